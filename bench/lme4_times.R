# Median wall time of lmer/glmer for each case, fitted to the same CSV files the Python side uses.
# Usage: Rscript lme4_times.R CASES.tsv DATADIR OUT.tsv
suppressMessages(library(lme4))
args <- commandArgs(TRUE)
cases <- read.delim(args[1], stringsAsFactors = FALSE)
out <- data.frame()
for (i in seq_len(nrow(cases))) {
  cs <- cases[i, ]
  df <- read.csv(file.path(args[2], paste0(cs$data, ".csv")), stringsAsFactors = TRUE)
  f <- as.formula(cs$formula)
  ctl <- lmerControl(check.nobs.vs.nRE = "ignore", check.nobs.vs.nlev = "ignore")
  run <- function() suppressWarnings(suppressMessages(
    if (cs$family == "gaussian") lmer(f, df, REML = as.logical(cs$reml), control = ctl)
    else glmer(f, df, family = cs$family, nAGQ = cs$nagq)))
  m <- run()
  times <- sapply(seq_len(cs$reps), function(k) system.time(run())[["elapsed"]])
  obj <- if (cs$family == "gaussian") { if (as.logical(cs$reml)) unname(getME(m, "devcomp")$cmp[["REML"]]) else deviance(m) } else -2 * as.numeric(logLik(m))
  out <- rbind(out, data.frame(id = cs$id, seconds = median(times), objective = obj))
  cat(sprintf("lme4 %-26s %.3fs\n", cs$id, median(times)))
}
write.table(out, args[3], sep = "\t", row.names = FALSE, quote = FALSE)
