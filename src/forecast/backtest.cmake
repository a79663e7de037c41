# Accuracy measures and the rolling-origin backtest (bench/forecast/README.md): the series
# spec and its builders, the model registry, the backtest loop and its JSON / table.
target_sources(prewarm_forecast PRIVATE
  ${CMAKE_CURRENT_LIST_DIR}/metrics.cc
  ${CMAKE_CURRENT_LIST_DIR}/registry.cc
  ${CMAKE_CURRENT_LIST_DIR}/backtest_spec.cc
  ${CMAKE_CURRENT_LIST_DIR}/backtest.cc)
prewarm_test(forecast_metrics_test SRCS ${CMAKE_CURRENT_LIST_DIR}/metrics_test.cc
  LIBS prewarm_forecast)
prewarm_test(forecast_backtest_test
  SRCS ${CMAKE_CURRENT_LIST_DIR}/registry_test.cc
       ${CMAKE_CURRENT_LIST_DIR}/backtest_spec_test.cc
       ${CMAKE_CURRENT_LIST_DIR}/backtest_test.cc
  LIBS prewarm_forecast)
# The real traces live beside the project (../shared/data/traces); tests skip without them.
target_compile_definitions(forecast_backtest_test PRIVATE
  PREWARM_TRACES_DIR="${PROJECT_SOURCE_DIR}/../shared/data/traces"
  PREWARM_SPEC_FILE="${PROJECT_SOURCE_DIR}/bench/forecast/series.yaml"
  PREWARM_SOURCE_DIR="${PROJECT_SOURCE_DIR}")
