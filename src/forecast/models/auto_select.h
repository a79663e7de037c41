// `auto`: per series, the model and the transform are chosen at Fit by rolling-origin
// validation inside the training window, so nothing after its end is ever read.
//
//   AutoSelect m(AutoOptions{});
//   RETURN_IF_ERROR(m.Fit(counts, FitContext{{144, 1008}, /*horizon=*/144}));
//   m.name();            // "auto[0.41 mstl_log1p+0.33 combo_log1p+0.26 prophetlike_log1p]"
//   m.CloneSelected();   // that weighted structure, refitted without selecting again
//
// Candidates: seasonal naive, ETS, Prophet-like, MSTL+ETS and their median combination,
// each on raw counts, on log1p and on Box-Cox (Guerrero's lambda from the data before the
// held-out span, kept afterwards), and SBA when the series is intermittent. The last
// max(folds x max(horizon, periods[0]), span_share x n) steps of the n-step training window
// (at most n / 3) are held out: every candidate is fitted once on what precedes them and
// rolled forward by Update() through up to `max_origins` evenly spaced origins, forecasting
// `horizon` steps at each (the multi-step errors the backtest scores). Each is scored, per
// origin, by its mean absolute error (the MASE of the origin's steps; the scale cancels,
// since the score is relative) and its pinball loss at 0.1/0.5/0.9/0.99 (quantiles from its
// own held-out log1p errors), the mean of both relative to seasonal naive's over the whole
// span; its score is the mean over the origins. A candidate with a larger MAE than
// seasonal naive is dropped. A median combination is taken on its members' transformed
// scale, as the combination row fitted on that transform takes it, so that the anchor
// below is exactly the default forecaster.
//
// The choice: the median combination on log1p (the robust default of the forecaster) is
// the anchor. A challenger joins only if it is better twice over: a mean score below
// (1 - margin) x the anchor's, and a lower score than the anchor's at more than
// `min_win_share` of the held-out origins. The second test is about stability: a mean can
// rest on two or three origins where the anchor did badly, a majority of origins cannot.
// The best `top` of anchor and challengers are combined, weighted by inverse score. Why
// not simply the best: the held-out span is one stretch of the past, and on the shared
// series the best candidates there are often not the best on the next day (Peyton
// Manning: 0.69 MASE for the weighted best three over three held-out folds, 0.47 for the
// median on log1p). Measured figures: bench/forecast/README.md.
//
// The held-out forecasts of the chosen combination are kept (held_out()). The quantiles
// (quantile.h) are calibrated on the chosen structure (CloneSelected()), fitted before a
// span that holds the held-out one and rolled through it at up to 500 origins: errors made
// strictly before the origin, by the structure that forecasts, without selecting again.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "forecast/model.h"

namespace prewarm::forecast {

struct AutoOptions {
  int folds = 3;               // the held-out span is at least folds x max(horizon, periods[0])
  double span_share = 0.25;    // ... and at least this share of the training window
  int max_origins = 24;        // forecast origins spread over the held-out span
  int top = 3;                 // candidates combined; 1 = the single best
  double margin = 0.0;         // a challenger must score below (1 - margin) x the anchor's ...
  double min_win_share = 0.5;  // ... and below the anchor at more than this share of origins
  // SBA joins the candidates when more than this share of the observed steps are zeros.
  double intermittent_zero_share = 0.3;
};

// One candidate's validation result, for reports and tests.
struct AutoCandidate {
  std::string name;      // e.g. "ets_log1p", "combo"
  double mase = 0;       // mean absolute error / in-sample seasonal naive MAE
  double pinball = 0;    // mean pinball loss over the scored levels, in counts
  double score = 0;      // mean of MAE and pinball relative to seasonal naive's; lower is better
  double win_share = 0;  // share of the held-out origins where it scored below the anchor
  double weight = 0;     // share in the chosen combination (0: not chosen)
  bool dropped = false;  // worse MAE than seasonal naive
};

class AutoSelect : public Model {
 public:
  explicit AutoSelect(AutoOptions options = {}) : options_(options) {}
  ~AutoSelect() override;

  std::string name() const override;
  absl::Status Fit(std::span<const double> y, const FitContext& ctx) override;
  absl::StatusOr<std::vector<double>> Predict(int h) const override;
  absl::Status Update(std::span<const double> new_obs) override;
  std::unique_ptr<Model> Clone() const override;
  // The chosen weighted structure (members' CloneSelected()), with no new selection.
  std::unique_ptr<Model> CloneSelected() const override;
  bool ChoosesTransform() const override { return true; }
  const HeldOutForecasts* held_out() const override { return &held_out_; }

  const std::vector<AutoCandidate>& candidates() const { return candidates_; }

 private:
  AutoOptions options_;
  std::unique_ptr<Model> chosen_;
  std::vector<AutoCandidate> candidates_;
  HeldOutForecasts held_out_;
};

}  // namespace prewarm::forecast
