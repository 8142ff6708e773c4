## Reference numbers for tests/core/test_hostile_engine.py (separation, hard starts, custom
## contrasts). Run from this directory: Rscript make_hostile_reference.R
## It writes the three data sets as CSV and prints the numbers pasted into the test.
suppressMessages({library(lme4); library(glmmTMB); library(MASS)})
cat("R", R.version.string, "lme4", as.character(packageVersion("lme4")),
    "glmmTMB", as.character(packageVersion("glmmTMB")),
    "MASS", as.character(packageVersion("MASS")), "\n")

## 1. complete separation: lme4's tests/testthat/test-glmer.R
set.seed(101)
d <- data.frame(y = rbinom(1000, size = 1, p = 0.5), x = runif(1000),
                f = factor(rep(1:20, each = 50)), x2 = rep(0:1, c(999, 1)))
write.csv(d, "separation.csv", row.names = FALSE)
ctl <- glmerControl(check.conv.hess = "ignore", check.conv.grad = "ignore")
mod2 <- glmer(y ~ x + x2 + (1 | f), data = d, family = binomial, control = ctl)
print(fixef(mod2), digits = 10); print(logLik(mod2), digits = 12)
mod3 <- update(mod2, family = binomial(link = "probit"))
print(fixef(mod3), digits = 10); print(logLik(mod3), digits = 12)

## 2. Gamma, log link, shape 0.1 (glmmTMB)
set.seed(11)
ng <- 15; nper <- 20
g <- factor(rep(sprintf("g%02d", 1:ng), each = nper)); x <- runif(ng * nper)
b <- rnorm(ng, sd = 0.5)
mu <- exp(1 + 0.8 * x + b[as.integer(g)])
y <- rgamma(ng * nper, shape = 0.1, scale = mu / 0.1)
dg <- data.frame(y = y, x = x, g = g)
write.csv(dg, "gamma_shape01.csv", row.names = FALSE)
m <- glmmTMB(y ~ x + (1 | g), family = Gamma(link = "log"), data = dg)
print(fixef(m)$cond, digits = 10); print(sigma(m), digits = 10)
print(logLik(m), digits = 12); print(sqrt(unlist(VarCorr(m)$cond)), digits = 10)

## 3. Gaussian, sqrt link, a few negative responses (glmmTMB; glmer stops with
##    "PIRLS loop resulted in NaN value")
set.seed(12)
g <- factor(rep(sprintf("s%02d", 1:12), each = 15)); x <- runif(180, 0, 2)
b <- rnorm(12, sd = 0.3)
mu <- (1.0 + 0.5 * x + b[as.integer(g)])^2
y <- mu + rnorm(180, sd = 1)
cat("negative responses:", sum(y < 0), "\n")
dn <- data.frame(y = y, x = x, g = g)
write.csv(dn, "gaussian_sqrt_neg.csv", row.names = FALSE)
m2 <- glmmTMB(y ~ x + (1 | g), family = gaussian(link = "sqrt"), data = dn)
print(fixef(m2)$cond, digits = 10); print(sigma(m2), digits = 10)
print(logLik(m2), digits = 12); print(sqrt(unlist(VarCorr(m2)$cond)), digits = 10)

## 4. custom contrast matrices
data(cbpp)
m <- glmer(cbind(incidence, size - incidence) ~ period + (1 | herd), cbpp, family = binomial,
           contrasts = list(period = contr.sdif(4)))
print(fixef(m), digits = 10); print(sqrt(diag(vcov(m))), digits = 10)
print(logLik(m), digits = 12)
cm <- cbind(c(-3, -1, 1, 3), c(1, -1, -1, 1), c(-1, 3, -3, 1))   # no column names
m2 <- glmer(cbind(incidence, size - incidence) ~ period + (1 | herd), cbpp, family = binomial,
            contrasts = list(period = cm))
print(fixef(m2), digits = 10)
ss <- sleepstudy; ss$fd <- factor(ss$Days)
m3 <- lmer(Reaction ~ fd + (1 | Subject), ss, REML = FALSE,
           contrasts = list(fd = contr.sdif(10)))
print(fixef(m3), digits = 10); print(sqrt(diag(vcov(m3))), digits = 10)
print(logLik(m3), digits = 12)

## 5. Poisson with a factor level whose counts are all zero (written by numpy:
##    sleepstudy, f = "a" for days < 2, y = 0 there and Poisson(3) elsewhere).
##    glmer stops with "Downdated VtV is not positive definite"; glmmTMB fits it.
d <- read.csv("poisson_zero_level.csv"); d$subj <- factor(d$subj)
r <- try(glmer(y ~ f + (1 | subj), d, family = poisson)); print(class(r))
m <- glmmTMB(y ~ f + (1 | subj), d, family = poisson)
print(fixef(m)$cond, digits = 10); print(sum(fixef(m)$cond), digits = 10)
print(logLik(m), digits = 12); print(VarCorr(m))
