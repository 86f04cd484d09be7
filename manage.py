#!/usr/bin/env python
import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "agentops.settings")
    from django.core.management import execute_from_command_line

    from agentops.serving import refuse_serving_command

    refuse_serving_command(sys.argv)  # runserver; administration commands run with any settings
    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
