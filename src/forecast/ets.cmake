# Transforms, optimiser, seasonal naive, ETS, Croston/SBA, the quantile calibrator and its
# adaptive interval levels.
target_sources(prewarm_forecast PRIVATE
  ${CMAKE_CURRENT_LIST_DIR}/transform.cc
  ${CMAKE_CURRENT_LIST_DIR}/optim.cc
  ${CMAKE_CURRENT_LIST_DIR}/models/snaive.cc
  ${CMAKE_CURRENT_LIST_DIR}/models/ets_filter.cc
  ${CMAKE_CURRENT_LIST_DIR}/models/ets.cc
  ${CMAKE_CURRENT_LIST_DIR}/models/croston.cc
  ${CMAKE_CURRENT_LIST_DIR}/adaptive.cc
  ${CMAKE_CURRENT_LIST_DIR}/quantile.cc
)

prewarm_test(forecast_ets_test SRCS
  ${CMAKE_CURRENT_LIST_DIR}/transform_test.cc
  ${CMAKE_CURRENT_LIST_DIR}/optim_test.cc
  ${CMAKE_CURRENT_LIST_DIR}/models/snaive_test.cc
  ${CMAKE_CURRENT_LIST_DIR}/models/ets_test.cc
  ${CMAKE_CURRENT_LIST_DIR}/models/croston_test.cc
  ${CMAKE_CURRENT_LIST_DIR}/quantile_test.cc
  ${CMAKE_CURRENT_LIST_DIR}/adaptive_test.cc
  LIBS prewarm_forecast)
target_compile_definitions(forecast_ets_test PRIVATE
  PREWARM_TRACES_DIR="${PROJECT_SOURCE_DIR}/../shared/data/traces"
  PREWARM_FIXTURES_DIR="${PROJECT_SOURCE_DIR}/tests/fixtures/forecast")
