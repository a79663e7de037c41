# Prophet-like additive model, STL / MSTL decomposition and forecasting, combinations,
# and `auto` (selection by validation inside the training window).
target_sources(prewarm_forecast PRIVATE
  ${CMAKE_CURRENT_LIST_DIR}/models/prophet_map.cc
  ${CMAKE_CURRENT_LIST_DIR}/models/prophet_like.cc
  ${CMAKE_CURRENT_LIST_DIR}/models/stl.cc
  ${CMAKE_CURRENT_LIST_DIR}/models/mstl.cc
  ${CMAKE_CURRENT_LIST_DIR}/models/combination.cc
  ${CMAKE_CURRENT_LIST_DIR}/models/auto_select.cc)

prewarm_test(forecast_prophet_test
  SRCS ${CMAKE_CURRENT_LIST_DIR}/models/prophet_like_test.cc
       ${CMAKE_CURRENT_LIST_DIR}/models/prophet_map_test.cc
       ${CMAKE_CURRENT_LIST_DIR}/models/stl_test.cc
       ${CMAKE_CURRENT_LIST_DIR}/models/mstl_test.cc
       ${CMAKE_CURRENT_LIST_DIR}/models/combination_test.cc
       ${CMAKE_CURRENT_LIST_DIR}/models/auto_select_test.cc
  LIBS prewarm_forecast)
target_compile_definitions(forecast_prophet_test PRIVATE
  PREWARM_TRACES_DIR="${PROJECT_SOURCE_DIR}/../shared/data/traces")
