"""Writers for people: the terminal summary, the job summary, Allure results."""
