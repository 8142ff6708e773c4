# Designs beyond the handed-over reference cases, computed with the same packages on this machine:
# a split plot with a covariate slope (nlme::Oats), a factor-by-covariate model with a
# vector-valued random effect (lme4::sleepstudy with two groups of subjects), sum-to-zero
# contrasts (type III must not change), an unbalanced crossed design, and a Poisson GLMM
# (lme4::grouseticks) on the response scale with car's type II and III tables.
# Usage: Rscript make_effects_extra.R OUTDIR  -> OUTDIR/<id>.json and OUTDIR/data/<name>.csv
suppressMessages({library(lmerTest); library(emmeans); library(pbkrtest); library(car); library(jsonlite)})
args <- commandArgs(TRUE); outdir <- args[1]; dir.create(file.path(outdir, "data"), recursive = TRUE, showWarnings = FALSE)
emm_options(lmerTest.limit = 1e6, pbkrtest.limit = 1e6)
tight <- lmerControl(optimizer = "bobyqa", optCtrl = list(rhoend = 1e-10, maxfun = 1e5))
versions <- paste("R", getRversion(), "lme4", packageVersion("lme4"), "lmerTest", packageVersion("lmerTest"),
                  "pbkrtest", packageVersion("pbkrtest"), "car", packageVersion("car"), "emmeans", packageVersion("emmeans"))
datasets <- list()
put <- function(name, df) { write.csv(df, file.path(outdir, "data", paste0(name, ".csv")), row.names = FALSE); datasets[[name]] <<- df }

data(Oats, package = "nlme"); oa <- as.data.frame(Oats)
oats <- data.frame(block = as.character(oa$Block), variety = as.character(oa$Variety), nitro = oa$nitro,
                   nf = paste0("N", oa$nitro), yield = oa$yield, stringsAsFactors = TRUE)
put("oats", oats)
ss <- lme4::sleepstudy; ss <- data.frame(reaction = ss$Reaction, days = ss$Days, subj = paste0("S", ss$Subject))
ss$grp <- ifelse(as.integer(factor(ss$subj)) %% 2 == 0, "G2", "G1"); ss <- as.data.frame(lapply(ss, function(x) if (is.character(x)) factor(x) else x))
put("sleepgroups", ss)
set.seed(7); mc <- as.data.frame(nlme::Machines); names(mc) <- tolower(names(mc))
mc <- mc[-sample(nrow(mc), 12), ]; mc$worker <- factor(paste0("W", as.character(mc$worker))); mc$machine <- factor(as.character(mc$machine))
put("machines_unbalanced", mc)
gt <- lme4::grouseticks; gt <- data.frame(ticks = gt$TICKS, year = factor(paste0("Y", gt$YEAR)), height = round(as.numeric(scale(gt$HEIGHT)), 6),
                                          brood = factor(paste0("B", gt$BROOD)), location = factor(paste0("L", gt$LOCATION)))
put("grouseticks", gt)

tab <- function(x) { x <- as.data.frame(x); c(list(rows = rownames(x)), lapply(as.list(x), unname)) }
aov_tab <- function(a) { a <- as.data.frame(a); list(terms = rownames(a), sum_sq = unname(a[["Sum Sq"]]), mean_sq = unname(a[["Mean Sq"]]),
  num_df = unname(a$NumDF), den_df = unname(a$DenDF), f = unname(a[["F value"]]), p = unname(a[["Pr(>F)"]])) }
emm_tab <- function(e, type = "link") as.list(as.data.frame(summary(e, infer = c(TRUE, TRUE), type = type)))
write_case <- function(out) writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, null = "null", na = "null"),
                                       file.path(outdir, paste0(out$id, ".json")))

lmm_case <- function(id, data, formula, emm = list(), trends = list(), contr = NULL) {
  if (!is.null(contr)) { old <- options(contrasts = contr); on.exit(options(old)) }
  df <- datasets[[data]]; m <- lmerTest::lmer(as.formula(formula), df, REML = TRUE, control = tight)
  out <- list(id = id, data = data, formula = formula, family = "gaussian", contrasts = contr, engine = versions,
    objective = unname(REMLcrit(m)),
    coef_satterthwaite = tab(summary(m, ddf = "Satterthwaite")$coefficients),
    coef_kenward_roger = tab(summary(m, ddf = "Kenward-Roger")$coefficients),
    anova3_satterthwaite = aov_tab(anova(m, type = 3, ddf = "Satterthwaite")),
    anova3_kenward_roger = aov_tab(anova(m, type = 3, ddf = "Kenward-Roger")),
    anova2_satterthwaite = aov_tab(anova(m, type = 2, ddf = "Satterthwaite")),
    anova1_satterthwaite = aov_tab(anova(m, type = 1, ddf = "Satterthwaite")))
  out$emmeans <- lapply(emm, function(spec) { r <- list(spec = spec)
    for (ddf in c("kenward-roger", "satterthwaite")) { e <- emmeans(m, as.formula(spec), lmer.df = ddf)
      r[[gsub("-", "_", ddf)]] <- list(means = emm_tab(e), pairs_tukey = emm_tab(pairs(e, adjust = "tukey")),
                                       pairs_holm = emm_tab(pairs(e, adjust = "holm")), pairs_bonferroni = emm_tab(pairs(e, adjust = "bonferroni"))) }
    r })
  out$emtrends <- lapply(trends, function(tr) { e <- emtrends(m, as.formula(tr$spec), var = tr$var, lmer.df = "satterthwaite")
    list(spec = tr$spec, var = tr$var, satterthwaite = list(trends = emm_tab(e), pairs_tukey = emm_tab(pairs(e, adjust = "tukey")))) })
  write_case(out); cat("written", id, "\n")
}

lmm_case("oats_splitplot", "oats", "yield ~ 1 + nf * variety + (1|block) + (1|block:variety)",
         emm = list("~ nf", "~ variety | nf"))
lmm_case("oats_slopes", "oats", "yield ~ 1 + nitro * variety + (1|block) + (1|block:variety)",
         emm = list("~ variety"), trends = list(list(spec = "~ variety", var = "nitro")))
lmm_case("sleep_groups", "sleepgroups", "reaction ~ 1 + days * grp + (1 + days|subj)",
         emm = list("~ grp"), trends = list(list(spec = "~ grp", var = "days")))
lmm_case("oats_sum_contrasts", "oats", "yield ~ 1 + nf * variety + (1|block) + (1|block:variety)",
         emm = list("~ variety"), contr = c("contr.sum", "contr.poly"))
lmm_case("machines_unbalanced", "machines_unbalanced", "score ~ 1 + machine + (1|worker) + (1|worker:machine)",
         emm = list("~ machine"))

df <- datasets[["grouseticks"]]
m <- glmer(ticks ~ 1 + year + height + (1|brood) + (1|location), df, family = poisson,
           control = glmerControl(tolPwrss = 1e-12, optimizer = c("bobyqa", "bobyqa"), optCtrl = list(rhoend = 1e-10, maxfun = 1e5)))
a3 <- as.data.frame(car::Anova(m, type = 3)); a2 <- as.data.frame(car::Anova(m, type = 2))
e <- emmeans(m, ~ year)
write_case(list(id = "grouseticks_poisson", data = "grouseticks", formula = "ticks ~ 1 + year + height + (1|brood) + (1|location)",
  family = "poisson", engine = versions, objective = -2 * as.numeric(logLik(m)),
  coef = tab(summary(m)$coefficients),
  anova3_wald_chisq = list(terms = rownames(a3), chisq = unname(a3$Chisq), df = unname(a3$Df), p = unname(a3[["Pr(>Chisq)"]])),
  anova2_wald_chisq = list(terms = rownames(a2), chisq = unname(a2$Chisq), df = unname(a2$Df), p = unname(a2[["Pr(>Chisq)"]])),
  emmeans = list(list(spec = "~ year",
    link = list(means = emm_tab(e), pairs_tukey = emm_tab(pairs(e, adjust = "tukey"))),
    response = list(means = emm_tab(e, "response"), pairs_tukey = emm_tab(pairs(e, adjust = "tukey"), "response"))))))
cat("written grouseticks_poisson\n")
