// Variance-stabilising transforms applied before fitting and undone after forecasting.
#pragma once

#include <span>
#include <string>
#include <vector>

#include "common/status.h"

namespace prewarm::forecast {

class Transform {
 public:
  enum class Kind { kNone, kLog1p, kBoxCox };
  static Transform None() { return Transform(Kind::kNone, 1.0); }
  static Transform Log1p() { return Transform(Kind::kLog1p, 0.0); }
  // Box-Cox on y + 1 with a given lambda.
  static Transform BoxCox(double lambda) { return Transform(Kind::kBoxCox, lambda); }
  // Box-Cox with lambda chosen by Guerrero's method over `period` (R's BoxCox.lambda).
  static Transform AutoBoxCox(std::span<const double> y, int period);
  static absl::StatusOr<Transform> Parse(const std::string& name);  // none|log1p|boxcox

  double Forward(double y) const;   // NaN stays NaN
  double Inverse(double z) const;   // clamped to >= 0 (counts)
  std::vector<double> Forward(std::span<const double> y) const;
  std::vector<double> Inverse(std::span<const double> z) const;
  Kind kind() const { return kind_; }
  double lambda() const { return lambda_; }
  std::string ToString() const;

 private:
  Transform(Kind k, double lambda) : kind_(k), lambda_(lambda) {}
  Kind kind_;
  double lambda_;
};

}  // namespace prewarm::forecast
