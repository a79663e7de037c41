#!/usr/bin/env Rscript
# Reference values for src/forecast/models/ets_test.cc (and the transform/Croston tests):
# R forecast::ets on AirPassengers for fixed and automatically chosen models, Guerrero's
# Box-Cox lambda, and Croston's method on a fixed intermittent series.
#   Rscript tools/r/ets_airpassengers.R [air_passengers.csv] > tests/fixtures/forecast/ets_airpassengers.json
suppressMessages(library(forecast))
args <- commandArgs(trailingOnly = TRUE)
csv <- if (length(args) > 0) args[1] else "../shared/data/traces/prophet/example_air_passengers.csv"
ap <- if (file.exists(csv)) ts(read.csv(csv)$y, start = c(1949, 1), frequency = 12) else AirPassengers
h <- 12

num <- function(x) sprintf("%.10g", x)
arr <- function(x) paste0("[", paste(num(as.numeric(x)), collapse = ", "), "]")
kv <- function(k, v) sprintf("    \"%s\": %s", k, v)

describe <- function(key, fit, last = FALSE) {
  fc <- forecast(fit, h = h, level = c(80, 95))
  p <- fit$par
  body <- c(
    kv("model", sprintf("\"%s\"", fit$method)),
    kv("alpha", num(p["alpha"])),
    kv("beta", num(ifelse(is.na(p["beta"]), 0, p["beta"]))),
    kv("gamma", num(ifelse(is.na(p["gamma"]), 0, p["gamma"]))),
    kv("phi", num(ifelse(is.na(p["phi"]), 1, p["phi"]))),
    kv("loglik", num(fit$loglik)),
    kv("aicc", num(fit$aicc)),
    kv("sigma2", num(fit$sigma2)),
    kv("mean", arr(fc$mean)),
    kv("lower80", arr(fc$lower[, 1])),
    kv("upper80", arr(fc$upper[, 1])),
    kv("upper95", arr(fc$upper[, 2])))
  cat(sprintf("  \"%s\": {\n%s\n  }%s\n", key, paste(body, collapse = ",\n"), ifelse(last, "", ",")))
}

# An intermittent series for Croston / SBA.
sparse <- c(0, 0, 3, 0, 0, 0, 1, 0, 2, 0, 0, 0, 0, 4, 0, 1, 0, 0, 0, 2, 0, 0, 5, 0, 0, 0, 1, 0)

cat("{\n")
cat(sprintf("  \"data\": %s,\n", arr(ap)))
cat(sprintf("  \"guerrero_lambda\": %s,\n", num(BoxCox.lambda(ap, method = "guerrero"))))
cat(sprintf("  \"sparse\": %s,\n", arr(sparse)))
cat(sprintf("  \"croston_0.1\": %s,\n", num(croston(sparse, h = 1, alpha = 0.1)$mean[1])))
cat(sprintf("  \"sba_0.1\": %s,\n", num((1 - 0.1 / 2) * croston(sparse, h = 1, alpha = 0.1)$mean[1])))
describe("log_AAA", ets(log(ap), model = "AAA", damped = FALSE))
describe("log_AAdA", ets(log(ap), model = "AAA", damped = TRUE))
describe("log_ANN", ets(log(ap), model = "ANN"))
describe("log_auto", ets(log(ap)))
describe("raw_MAM", ets(ap, model = "MAM", damped = FALSE))
describe("raw_auto", ets(ap), last = TRUE)
cat("}\n")
