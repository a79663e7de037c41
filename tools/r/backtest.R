#!/usr/bin/env Rscript
# Rolling-origin backtest of R's forecast and prophet packages on one series of
# bench/forecast/series.yaml, under the protocol of bench/forecast/README.md (the same one
# `prewarm forecast backtest` follows), written as JSON.
#
#   Rscript tools/r/backtest.R --series wc98_10min --spec bench/forecast/series.yaml \
#       --out build/forecast-bench/wc98_10min.R.json [--models snaive,ets,...] [--origins N]
#       [--quick] [--jobs 2] [--arima-timeout 60] [--detail FILE.csv]
#
# Models (each also as NAME_log1p: fitted on log1p(y), quantiles mapped back by expm1):
#   snaive      forecast::snaive with the first period
#   ets         forecast::ets on a ts of frequency periods[1]; R's ets refuses frequencies
#               above 24, so there the row is `stlf_ets` (forecast::stlf(method = "ets"))
#   auto.arima  forecast::auto.arima (stepwise, approximation), capped at --arima-timeout
#               CPU seconds per fit; an origin that hits the cap counts as failed
#   prophet     prophet with the seasonalities of `periods`, quantiles from
#               predictive_samples (1000 draws)
#   mstl_ets    forecast::mstl on msts(periods) then forecast(method = "ets")
#   combo       element-wise median of snaive, ets|stlf_ets, prophet and mstl_ets: of their
#               point forecasts and of each of their quantiles
# Paths in the spec are relative to the repository root; run from there.
Sys.setenv(TZ = "UTC")
suppressPackageStartupMessages({
  library(forecast)
  library(yaml)
  library(parallel)
})

ALL_MODELS <- c("snaive", "ets", "auto.arima", "prophet", "mstl_ets", "combo")
COMBO_MEMBERS <- c("snaive", "ets", "prophet", "mstl_ets")
QPROBS <- c(0.01, 0.05, 0.1, 0.5, 0.9, 0.95, 0.99)
LEVELS <- c(80, 90, 98)

# ---- arguments ----------------------------------------------------------------------
parse_args <- function(a) {
  o <- list(spec = "bench/forecast/series.yaml", models = paste(ALL_MODELS, collapse = ","),
            origins = NA, quick = FALSE, jobs = 2, arima_timeout = 60, detail = NA,
            out = NA, series = NA)
  i <- 1
  while (i <= length(a)) {
    k <- a[i]
    flag <- function() { v <- a[i + 1]; i <<- i + 1; v }
    switch(k,
      "--series" = o$series <- flag(),
      "--spec" = o$spec <- flag(),
      "--out" = o$out <- flag(),
      "--models" = o$models <- flag(),
      "--origins" = o$origins <- as.integer(flag()),
      "--jobs" = o$jobs <- as.integer(flag()),
      "--arima-timeout" = o$arima_timeout <- as.numeric(flag()),
      "--detail" = o$detail <- flag(),
      "--quick" = o$quick <- TRUE,
      { cat("unknown argument:", k, "\n", file = stderr()); quit(status = 2) })
    i <- i + 1
  }
  if (is.na(o$series)) { cat("--series NAME is required\n", file = stderr()); quit(status = 2) }
  o
}

# ---- loading a series -----------------------------------------------------------------
# Returns list(ys = list of numeric vectors (one per sub-series), names, t0 (epoch seconds of
# step 0), step_s, notes).
load_series <- function(s) {
  native <- as.numeric(s$native_step_s)
  agg <- as.integer(s$aggregate %||% 1)
  step <- native * agg
  if (!is.null(s$step_s) && as.numeric(s$step_s) != step)
    stop(sprintf("%s: step_s %s != native_step_s * aggregate", s$name, s$step_s))
  notes <- character()
  if (s$format == "csv") {
    d <- read.csv(s$source, colClasses = "character", check.names = FALSE)
    tt <- as.numeric(as.POSIXct(d[[s$time_column]], format = s$time_format, tz = "UTC"))
    v <- suppressWarnings(as.numeric(d[[s$value_column]]))
    bad <- is.na(tt) | is.na(v)
    if (any(bad)) notes <- c(notes, sprintf("%d unparsable lines skipped", sum(bad)))
    tt <- tt[!bad]; v <- v[!bad]
    first <- min(tt); last <- max(tt)
    # Buckets are aligned to multiples of step since the epoch (UTC); only buckets fully
    # inside [first, last + native) are kept; a bucket sums the native rows it has and is
    # NA when it has none.
    b0 <- ceiling(first / step); b1 <- floor((last + native) / step) - 1
    b <- floor(tt / step)
    keep <- b >= b0 & b <= b1
    y <- rep(NA_real_, b1 - b0 + 1)
    sums <- rowsum(v[keep], b[keep] - b0 + 1)
    y[as.integer(rownames(sums))] <- sums[, 1]
    nat_missing <- (b1 - b0 + 1) * agg - sum(keep)
    if (nat_missing > 0) notes <- c(notes, sprintf("%d native steps missing in span", nat_missing))
    return(list(ys = list(y), names = s$name, t0 = b0 * step, step_s = step, notes = notes))
  }
  if (s$format == "azure_wide") {
    d <- read.csv(s$source, check.names = FALSE)
    cols <- grep(paste0("^", s$value_prefix), names(d))
    m <- as.matrix(d[, cols]); storage.mode(m) <- "double"
    if (agg > 1) stop("aggregate > 1 not supported for azure_wide")
    t0 <- as.numeric(as.POSIXct(s$start, tz = "UTC"))
    if (s$combine == "sum") {
      return(list(ys = list(colSums(m)), names = s$name, t0 = t0, step_s = step, notes = notes))
    }
    tot <- rowSums(m, na.rm = TRUE)
    ord <- order(-tot, seq_along(tot))[seq_len(min(as.integer(s$top), nrow(m)))]
    ys <- lapply(ord, function(r) m[r, ])
    zero_share <- sapply(ys, function(y) mean(y == 0, na.rm = TRUE))
    notes <- c(notes, sprintf("%d functions (rows %s), %d intermittent (>50%% zero minutes), zero share median %.2f",
                              length(ys), paste(ord, collapse = " "), sum(zero_share > 0.5),
                              median(zero_share)))
    return(list(ys = ys, names = d[ord, 1], t0 = t0, step_s = step, notes = notes,
                zero_share = zero_share))
  }
  stop("unknown format ", s$format)
}
`%||%` <- function(a, b) if (is.null(a)) b else a

origin_indices <- function(N, h, span, n) {
  # 0-based index of the first forecast step; origins evenly over the last `span` steps,
  # the last one leaving exactly h future points.
  first <- N - span; last <- N - h
  if (n == 1) return(last)
  first + floor((0:(n - 1)) * (last - first) / (n - 1))
}

# ---- models --------------------------------------------------------------------------
# Each returns an h x 7 matrix of quantiles at QPROBS (column "0.5" = point forecast), on
# the (possibly transformed) scale it was fitted on.
fc_quantiles <- function(fc) {
  v <- function(x) as.numeric(x)
  cbind(v(fc$lower[, 3]), v(fc$lower[, 2]), v(fc$lower[, 1]), v(fc$mean),
        v(fc$upper[, 1]), v(fc$upper[, 2]), v(fc$upper[, 3]))
}

season_fill <- function(y, m) {
  # snaive: a missing value takes the last observed value of its season.
  for (t in seq_along(y)) if (is.na(y[t]) && t > m) y[t] <- y[t - m]
  if (anyNA(y)) y <- as.numeric(na.interp(y))
  y
}

prophet_fit_q <- function(z, tt, h, periods, step) {
  suppressPackageStartupMessages(library(prophet))
  daily <- step >= 86400
  ds <- if (daily) as.Date(as.POSIXct(tt, origin = "1970-01-01", tz = "UTC"))
        else as.POSIXct(tt, origin = "1970-01-01", tz = "UTC")
  df <- data.frame(ds = ds, y = z)[!is.na(z), ]
  secs <- periods * step
  m <- prophet(daily.seasonality = any(secs == 86400), weekly.seasonality = any(secs == 604800),
               yearly.seasonality = any(secs == 365 * 86400), uncertainty.samples = 1000,
               fit = FALSE)
  for (p in periods[!(secs %in% c(86400, 604800, 365 * 86400))])
    m <- add_seasonality(m, name = paste0("p", p), period = p * step / 86400,
                         fourier.order = min(5, floor(p / 2)))
  m <- suppressMessages(fit.prophet(m, df))
  ft <- tt[length(tt)] + step * seq_len(h)
  fut <- data.frame(ds = if (daily) as.Date(as.POSIXct(ft, origin = "1970-01-01", tz = "UTC"))
                         else as.POSIXct(ft, origin = "1970-01-01", tz = "UTC"))
  smp <- predictive_samples(m, fut)$yhat
  q <- t(apply(smp, 1, quantile, probs = QPROBS, names = FALSE))
  m0 <- m; m0$uncertainty.samples <- 0
  q[, 4] <- predict(m0, fut)$yhat
  q
}

proc_cpu <- function(pid) {
  st <- tryCatch(readLines(sprintf("/proc/%d/stat", pid), warn = FALSE), error = function(e) "")
  if (!length(st) || st == "") return(NA)
  f <- strsplit(sub("^.*\\) ", "", st), " ")[[1]]   # fields after "(comm) ", from field 3
  (as.numeric(f[12]) + as.numeric(f[13])) / 100     # utime + stime in clock ticks (USER_HZ 100)
}

# Runs f() in a forked child and kills it once it has used `cap` CPU seconds (or 3 x cap
# wall seconds). Returns f()'s value with attribute cpu = the child's CPU seconds.
with_cpu_cap <- function(f, cap) {
  job <- mcparallel({ c0 <- cpu_now(); v <- f(); list(v = v, cpu = cpu_now() - c0) }, silent = TRUE)
  t0 <- Sys.time()
  repeat {
    r <- mccollect(job, wait = FALSE, timeout = 0.5)
    if (!is.null(r)) break
    used <- proc_cpu(job$pid)
    wall <- as.numeric(difftime(Sys.time(), t0, units = "secs"))
    if ((!is.na(used) && used > cap) || wall > 3 * cap) {
      tools::pskill(job$pid, tools::SIGKILL)
      mccollect(job, wait = TRUE)
      stop(sprintf("cpu cap %g s exceeded", cap))
    }
  }
  r <- r[[1]]
  if (inherits(r, "try-error")) stop(as.character(r))
  structure(r$v, cpu = r$cpu)
}

fit_one <- function(model, z, tt, h, periods, step, arima_timeout) {
  m1 <- periods[1]
  lv <- LEVELS
  switch(model,
    snaive = fc_quantiles(snaive(ts(season_fill(z, m1), frequency = m1), h = h, level = lv)),
    ets = {
      if (m1 <= 24) {
        fit <- ets(ts(z, frequency = m1), na.action = "na.interp")
        fc_quantiles(forecast(fit, h = h, level = lv))
      } else {
        fc_quantiles(stlf(ts(z, frequency = m1), h = h, method = "ets", level = lv))
      }
    },
    auto.arima = with_cpu_cap(function() {
      fit <- auto.arima(ts(z, frequency = m1), stepwise = TRUE, approximation = TRUE)
      fc_quantiles(forecast(fit, h = h, level = lv))
    }, arima_timeout),
    prophet = prophet_fit_q(z, tt, h, periods, step),
    mstl_ets = {
      x <- msts(z, seasonal.periods = periods)
      fc_quantiles(forecast(mstl(x), h = h, method = "ets", level = lv))
    },
    stop("unknown model ", model))
}

# ---- metrics -------------------------------------------------------------------------
metrics <- function(y, q, scale) {
  ok <- !is.na(y)
  y <- y[ok]; q <- q[ok, , drop = FALSE]
  f <- q[, 4]
  e <- abs(y - f)
  den <- abs(y) + abs(f)
  sm <- ifelse(den == 0, 0, 200 * e / pmax(den, 1e-300))
  pin <- function(j, p) mean(pmax(p * (y - q[, j]), (p - 1) * (y - q[, j])))
  c(mase = if (is.finite(scale) && scale > 0) mean(e) / scale else NA,
    smape = mean(sm),
    pb50 = pin(4, 0.5), pb90 = pin(5, 0.9), pb95 = pin(6, 0.95), pb99 = pin(7, 0.99),
    cov80 = mean(y >= q[, 3] & y <= q[, 5]), cov98 = mean(y >= q[, 1] & y <= q[, 7]))
}

snaive_scale <- function(y, m) {
  d <- abs(y[(m + 1):length(y)] - y[1:(length(y) - m)])
  mean(d, na.rm = TRUE)
}

cpu_now <- function() { p <- proc.time(); p[["user.self"]] + p[["sys.self"]] }

# One task: one sub-series at one origin, all requested models, raw and log1p.
run_task <- function(task, y, t0, step, periods, h, train, models, arima_timeout) {
  o <- task$origin
  lo <- if (identical(train, "all")) 1 else max(1, o - as.integer(train) + 1)
  ytr <- y[lo:o]                              # R is 1-based: y[o] is the last training point
  tt <- t0 + step * ((lo:o) - 1)
  yte <- y[(o + 1):(o + h)]
  scale <- snaive_scale(ytr, periods[1])
  base <- setdiff(models, "combo")
  if ("combo" %in% models) base <- union(base, COMBO_MEMBERS)
  rows <- list()
  for (tr in c("raw", "log1p")) {
    z <- if (tr == "raw") ytr else log1p(pmax(ytr, 0))
    qs <- list(); cpu <- c()
    for (mod in base) {
      c0 <- cpu_now()
      q <- tryCatch(fit_one(mod, z, tt, h, periods, step, arima_timeout),
                    error = function(e) structure(conditionMessage(e), class = "fail"))
      c1 <- cpu_now()
      cpu[mod] <- if (!is.null(attr(q, "cpu"))) attr(q, "cpu") + (c1 - c0) else c1 - c0
      if (inherits(q, "fail") && grepl("cpu cap", q)) cpu[mod] <- arima_timeout
      attr(q, "cpu") <- NULL
      if (!inherits(q, "fail") && all(is.finite(q))) {
        q <- if (tr == "raw") pmax(q, 0) else pmax(expm1(q), 0)
        q <- t(apply(q, 1, sort))             # repair crossing quantiles
        qs[[mod]] <- q
      } else {
        qs[[mod]] <- if (inherits(q, "fail")) as.character(q) else "non-finite forecast"
      }
    }
    if ("combo" %in% models) {
      mem <- Filter(is.matrix, qs[COMBO_MEMBERS])
      if (length(mem) >= 2) {
        arr <- simplify2array(mem)
        qs[["combo"]] <- apply(arr, c(1, 2), median)
      } else qs[["combo"]] <- "fewer than 2 members"
      cpu["combo"] <- sum(cpu[COMBO_MEMBERS])
    }
    for (mod in models) {
      q <- qs[[mod]]
      nm <- if (mod == "ets" && periods[1] > 24) "stlf_ets" else mod
      if (tr == "log1p") nm <- paste0(nm, "_log1p")
      if (is.matrix(q)) {
        rows[[length(rows) + 1]] <- c(list(model = nm, sub = task$sub, origin = o, ok = TRUE,
                                           cpu = unname(cpu[mod]), err = ""),
                                      as.list(metrics(yte, q, scale)))
      } else {
        rows[[length(rows) + 1]] <- list(model = nm, sub = task$sub, origin = o, ok = FALSE,
                                         cpu = unname(cpu[mod]), err = q)
      }
    }
  }
  rows
}

# ---- JSON ----------------------------------------------------------------------------
jnum <- function(x) if (is.null(x) || length(x) == 0 || is.na(x)) "null" else sprintf("%.6g", x)
jstr <- function(x) paste0("\"", gsub("\n", " ", gsub("\"", "\\\\\"", gsub("\\\\", "\\\\\\\\", x))), "\"")

main <- function() {
  opt <- parse_args(commandArgs(trailingOnly = TRUE))
  spec <- read_yaml(opt$spec)
  s <- Filter(function(x) x$name == opt$series, spec$series)
  if (length(s) != 1) stop("series ", opt$series, " not in ", opt$spec)
  s <- s[[1]]
  models <- strsplit(opt$models, ",")[[1]]
  models <- sub("_log1p$", "", models)
  models <- unique(sub("^stlf_ets$", "ets", models))
  bad <- setdiff(models, ALL_MODELS)
  if (length(bad)) stop("unknown models: ", paste(bad, collapse = ","))
  notes <- character()
  skip <- unlist(s$r_skip)
  if (opt$quick) skip <- union(skip, "auto.arima")
  if (length(intersect(models, skip))) {
    notes <- c(notes, sprintf("skipped: %s", paste(intersect(models, skip), collapse = ",")))
    models <- setdiff(models, skip)
  }
  n_orig <- if (!is.na(opt$origins)) opt$origins else if (opt$quick) 5L else as.integer(s$origins)
  periods <- as.numeric(unlist(s$periods))
  h <- as.integer(s$horizon)
  train <- if (identical(s$train, "all")) "all" else as.integer(s$train)
  span <- as.integer(s$origin_span)

  if ("prophet" %in% models || "combo" %in% models)
    suppressMessages(suppressPackageStartupMessages(library(prophet)))
  ser <- load_series(s)
  notes <- c(notes, ser$notes)
  N <- length(ser$ys[[1]])
  oi <- origin_indices(N, h, span, n_orig)      # 0-based first forecast step
  tasks <- list()
  for (k in seq_along(ser$ys)) for (o in oi) tasks[[length(tasks) + 1]] <- list(sub = k, origin = o)
  cat(sprintf("backtest.R %s: N=%d, %d sub-series x %d origins, models %s, %d jobs\n",
              s$name, N, length(ser$ys), length(oi), paste(models, collapse = ","), opt$jobs),
      file = stderr())
  t_start <- Sys.time()
  res <- mclapply(tasks, function(tk) {
    suppressWarnings(run_task(tk, ser$ys[[tk$sub]], ser$t0, ser$step_s, periods, h, train,
                              models, opt$arima_timeout))
  }, mc.cores = opt$jobs, mc.preschedule = FALSE)
  errs <- Filter(function(r) inherits(r, "try-error"), res)
  if (length(errs)) stop("task failed: ", as.character(errs[[1]]))
  rows <- do.call(c, res)
  cat(sprintf("backtest.R %s: %.0f s wall\n", s$name, as.numeric(difftime(Sys.time(), t_start, units = "secs"))),
      file = stderr())

  mnames <- unique(sapply(rows, `[[`, "model"))
  keys <- c("mase", "smape", "pb50", "pb90", "pb95", "pb99", "cov80", "cov98")
  if (!is.na(opt$detail)) {
    df <- do.call(rbind, lapply(rows, function(r) {
      data.frame(model = r$model, sub = r$sub, origin = r$origin, ok = r$ok, cpu_s = r$cpu,
                 t(sapply(keys, function(k) if (is.null(r[[k]])) NA else r[[k]])), err = r$err)
    }))
    write.csv(df, opt$detail, row.names = FALSE)
  }
  out <- character()
  for (nm in mnames) {
    rs <- Filter(function(r) r$model == nm, rows)
    okr <- Filter(function(r) r$ok, rs)
    avg <- function(k) { v <- vapply(okr, function(r) as.numeric(r[[k]]), 1); if (length(v)) mean(v, na.rm = TRUE) else NA }
    # MASE over pairs with a usable scale
    mase_n <- sum(vapply(okr, function(r) !is.na(r$mase), TRUE))
    fails <- unique(sapply(Filter(function(r) !r$ok, rs), `[[`, "err"))
    mnote <- character()
    if (length(fails)) mnote <- c(mnote, sprintf("%d failed: %s", length(rs) - length(okr),
                                                  substr(paste(fails, collapse = "; "), 1, 200)))
    if (mase_n < length(okr)) mnote <- c(mnote, sprintf("MASE over %d of %d (zero in-sample scale)", mase_n, length(okr)))
    if (grepl("^ets", nm)) mnote <- c(mnote, "NA interpolated (na.interp)")
    out <- c(out, sprintf(paste0(
      "    {\"name\": %s, \"mase\": %s, \"smape\": %s, ",
      "\"pinball\": {\"0.5\": %s, \"0.9\": %s, \"0.95\": %s, \"0.99\": %s}, ",
      "\"coverage80\": %s, \"coverage98\": %s, \"cpu_s\": %s, \"origins_ok\": %d, \"fits\": %d, \"notes\": %s}"),
      jstr(nm), jnum(avg("mase")), jnum(avg("smape")), jnum(avg("pb50")), jnum(avg("pb90")),
      jnum(avg("pb95")), jnum(avg("pb99")), jnum(avg("cov80")), jnum(avg("cov98")),
      jnum(if (length(okr)) mean(vapply(okr, `[[`, 1, "cpu")) else NA), length(okr), length(rs), jstr(paste(mnote, collapse = "; "))))
  }
  proto <- sprintf(paste0("{\"step_s\": %s, \"periods\": [%s], \"horizon\": %d, \"origins\": %d, ",
                          "\"train\": %s, \"origin_span\": %d, \"n\": %d, \"subseries\": %d, \"origin_index\": [%s]}"),
                   jnum(ser$step_s), paste(periods, collapse = ", "), h, length(oi),
                   if (identical(train, "all")) "\"all\"" else as.character(train), span, N,
                   length(ser$ys), paste(oi, collapse = ", "))
  json <- paste0("{\n  \"series\": ", jstr(s$name), ",\n  \"tool\": \"R\",\n  \"protocol\": ", proto,
                 ",\n  \"notes\": ", jstr(paste(notes, collapse = "; ")),
                 ",\n  \"versions\": ", jstr(sprintf("%s; forecast %s; prophet %s", R.version.string,
                                                    packageVersion("forecast"),
                                                    tryCatch(as.character(packageVersion("prophet")), error = function(e) "none"))),
                 ",\n  \"models\": [\n", paste(out, collapse = ",\n"), "\n  ]\n}\n")
  if (is.na(opt$out)) cat(json) else writeLines(json, opt$out, sep = "")
}

main()
