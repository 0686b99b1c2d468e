# R reference results for wvsalign's statistics (see README.md in this folder).
#
#   Rscript tests/r/reference.R [OUT_DIR]
#
# Reads linear.csv, crossed.csv and correlation.csv from this folder and writes
# OUT_DIR/r_results.csv (default: this folder): one row per case x term x quantity,
# values with 17 significant digits, and OUT_DIR/r_versions.csv (R and package versions).
# Needs R with the sandwich, lmtest and lme4 packages (Debian: r-base-core r-cran-sandwich
# r-cran-lmtest r-cran-lme4).
suppressPackageStartupMessages({
  library(sandwich)
  library(lmtest)
  library(lme4)
})

args <- commandArgs(trailingOnly = FALSE)
script <- sub("^--file=", "", args[grep("^--file=", args)])
here <- dirname(normalizePath(script))
trailing <- commandArgs(trailingOnly = TRUE)
out_dir <- if (length(trailing) >= 1) trailing[1] else here

rows <- list()
add <- function(case, term, quantity, value) {
  rows[[length(rows) + 1]] <<- data.frame(case = case, term = term, quantity = quantity,
                                          value = sprintf("%.17g", as.numeric(value)),
                                          stringsAsFactors = FALSE)
}
add_table <- function(case, tab) {
  # a coeftest / coefficient matrix: estimate, std_error, statistic, p per term
  for (i in seq_len(nrow(tab))) {
    term <- rownames(tab)[i]
    add(case, term, "estimate", tab[i, 1])
    add(case, term, "std_error", tab[i, 2])
    add(case, term, "statistic", tab[i, 3])
    add(case, term, "p", tab[i, 4])
  }
}
add_glance <- function(case, fit) {
  add(case, "", "loglik", as.numeric(logLik(fit)))
  add(case, "", "aic", AIC(fit))
  add(case, "", "bic", BIC(fit))
  add(case, "", "n", nobs(fit))
}

linear <- read.csv(file.path(here, "linear.csv"), stringsAsFactors = FALSE)
crossed <- read.csv(file.path(here, "crossed.csv"), stringsAsFactors = FALSE)
correlation <- read.csv(file.path(here, "correlation.csv"))

# ---- cor.test ------------------------------------------------------------------------
ct <- cor.test(correlation$x, correlation$y, method = "pearson")
add("cor_pearson", "", "estimate", ct$estimate)
add("cor_pearson", "", "p", ct$p.value)
add("cor_pearson", "", "ci_low", ct$conf.int[1])
add("cor_pearson", "", "ci_high", ct$conf.int[2])
ct <- cor.test(correlation$x, correlation$y, method = "spearman", exact = FALSE)
add("cor_spearman", "", "estimate", ct$estimate)
add("cor_spearman", "", "p", ct$p.value)

# ---- lm: classical, HC0-HC3, AIC/BIC -------------------------------------------------
fit <- lm(y ~ x1 + x2 + g, data = linear)
add_table("lm_nonrobust", coeftest(fit))
for (type in c("HC0", "HC1", "HC2", "HC3")) {
  add_table(paste0("lm_", type), coeftest(fit, vcov. = vcovHC(fit, type = type)))
}
add_glance("lm_nonrobust", fit)
add("lm_nonrobust", "", "r2", summary(fit)$r.squared)

# ---- clustered lm (vcovCL default, type HC1) with G - 1 df -------------------------------
G <- length(unique(linear$cl))
add_table("lm_cluster", coeftest(fit, vcov. = vcovCL(fit, cluster = ~cl), df = G - 1))

# ---- logit: classical, HC0, vcovCL default (HC0 for a glm) ------------------------------
lfit <- glm(yb ~ x1 + x2, data = linear, family = binomial, control = glm.control(epsilon = 1e-14, maxit = 100))
add_table("glm_nonrobust", coeftest(lfit))
add_table("glm_HC0", coeftest(lfit, vcov. = vcovHC(lfit, type = "HC0")))
add_table("glm_cluster", coeftest(lfit, vcov. = vcovCL(lfit, cluster = ~cl)))
add_glance("glm_nonrobust", lfit)

# ---- rank-deficient lm: x3 = x1 - 2 x2 is aliased (NA) ---------------------------------
rfit <- lm(y ~ x1 + x2 + x3 + g, data = linear)
cf <- coef(rfit)
for (term in names(cf)) add("lm_rank_deficient", term, "estimate", cf[[term]])
add_table("lm_rank_deficient_se", coef(summary(rfit)))
add_glance("lm_rank_deficient", rfit)

# ---- lme4: crossed random intercepts, REML and ML ----------------------------------------
ctrl <- lmerControl(optimizer = "bobyqa", optCtrl = list(maxfun = 1e5))
for (reml in c(TRUE, FALSE)) {
  case <- if (reml) "lmer_reml" else "lmer_ml"
  mfit <- lmer(y ~ x + z + (1 | country) + (1 | item_id), data = crossed, REML = reml, control = ctrl)
  tab <- coef(summary(mfit))
  for (i in seq_len(nrow(tab))) {
    add(case, rownames(tab)[i], "estimate", tab[i, 1])
    add(case, rownames(tab)[i], "std_error", tab[i, 2])
    add(case, rownames(tab)[i], "statistic", tab[i, 3])
  }
  vc <- as.data.frame(VarCorr(mfit))
  for (i in seq_len(nrow(vc))) add(case, vc$grp[i], "variance", vc$vcov[i])
  add_glance(case, mfit)
}
# one random intercept (country)
mfit <- lmer(y ~ x + z + (1 | country), data = crossed, REML = TRUE, control = ctrl)
tab <- coef(summary(mfit))
for (i in seq_len(nrow(tab))) {
  add("lmer_single", rownames(tab)[i], "estimate", tab[i, 1])
  add("lmer_single", rownames(tab)[i], "std_error", tab[i, 2])
}
add_glance("lmer_single", mfit)

results <- do.call(rbind, rows)
write.csv(results, file.path(out_dir, "r_results.csv"), row.names = FALSE, quote = TRUE)
versions <- data.frame(
  name = c("R", "sandwich", "lmtest", "lme4", "Matrix"),
  version = c(paste(R.version$major, R.version$minor, sep = "."),
              as.character(packageVersion("sandwich")), as.character(packageVersion("lmtest")),
              as.character(packageVersion("lme4")), as.character(packageVersion("Matrix"))))
write.csv(versions, file.path(out_dir, "r_versions.csv"), row.names = FALSE, quote = TRUE)
