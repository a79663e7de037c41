# The forecaster daemon's parts: live series store, capacity math (and, with the models,
# the planner and the orchestrator client).
target_link_libraries(prewarm_forecast PUBLIC prewarm_proto prewarm_security prewarm_metrics)
target_sources(prewarm_forecast PRIVATE
  ${CMAKE_CURRENT_LIST_DIR}/service/capacity.cc
  ${CMAKE_CURRENT_LIST_DIR}/service/config.cc
  ${CMAKE_CURRENT_LIST_DIR}/service/planner.cc
  ${CMAKE_CURRENT_LIST_DIR}/service/forecaster.cc
  ${CMAKE_CURRENT_LIST_DIR}/service/model_forecaster.cc
  ${CMAKE_CURRENT_LIST_DIR}/service/series_store.cc
  ${CMAKE_CURRENT_LIST_DIR}/service/state_file.cc)
target_link_libraries(prewarm_forecast PRIVATE ZLIB::ZLIB)
prewarm_test(forecast_service_test SRCS ${CMAKE_CURRENT_LIST_DIR}/service/service_test.cc
  ${CMAKE_CURRENT_LIST_DIR}/service/forecaster_test.cc
  ${CMAKE_CURRENT_LIST_DIR}/service/state_file_test.cc
  LIBS prewarm_forecast prewarm_proto)
target_compile_definitions(forecast_service_test PRIVATE PREWARM_EXAMPLES="${PROJECT_SOURCE_DIR}/examples")
