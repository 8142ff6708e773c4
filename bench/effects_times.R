# Time lmerTest's Satterthwaite and pbkrtest's Kenward-Roger tables: summary() and a type III anova()
# of a fitted model, the lmer fit itself excluded (for Satterthwaite the timing includes
# as_lmerModLmerTest, which computes the Hessian and Jacobian the tables use).
# Usage: Rscript effects_times.R CASES.tsv DATADIR OUT.tsv
suppressMessages({library(lmerTest); library(pbkrtest)})
args <- commandArgs(TRUE)
cases <- read.delim(args[1], stringsAsFactors = FALSE)
out <- data.frame()
for (i in seq_len(nrow(cases))) {
  cs <- cases[i, ]
  dat <<- read.csv(file.path(args[2], paste0(cs$data, ".csv")), stringsAsFactors = TRUE)
  fm <<- as.formula(cs$formula)
  m <- eval(quote(lme4::lmer(fm, dat, REML = TRUE)), globalenv())
  ddf <- if (cs$method == "satterthwaite") "Satterthwaite" else "Kenward-Roger"
  run <- function() suppressWarnings(suppressMessages({
    mt <- as_lmerModLmerTest(m)
    list(summary(mt, ddf = ddf)$coefficients, anova(mt, type = 3, ddf = ddf))
  }))
  if (ddf == "Kenward-Roger") {
    mt0 <- suppressMessages(as_lmerModLmerTest(m))
    run <- function() suppressWarnings(suppressMessages(
      list(summary(mt0, ddf = ddf)$coefficients, anova(mt0, type = 3, ddf = ddf))))
  }
  res <- run()
  times <- sapply(seq_len(cs$reps), function(k) system.time(run())[["elapsed"]])
  out <- rbind(out, data.frame(id = cs$id, method = cs$method, seconds = median(times),
                               df1 = res[[1]][nrow(res[[1]]), "df"]))
  cat(sprintf("lmerTest %-14s %-14s %.3fs\n", cs$id, cs$method, median(times)))
}
write.table(out, args[3], sep = "\t", row.names = FALSE, quote = FALSE)
