-- GET the path given on the command line (the baseline view).
wrk.method = "GET"
