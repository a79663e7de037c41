# Accuracy measures and the rolling-origin backtest.
target_sources(prewarm_forecast PRIVATE ${CMAKE_CURRENT_LIST_DIR}/metrics.cc)
prewarm_test(forecast_metrics_test SRCS ${CMAKE_CURRENT_LIST_DIR}/metrics_test.cc
  LIBS prewarm_forecast)
