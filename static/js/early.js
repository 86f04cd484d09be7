// Loaded first, before the page renders: lets CSS tell "JavaScript runs" (phone navigation folds).
document.documentElement.classList.add("js");
