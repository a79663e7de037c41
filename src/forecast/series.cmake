target_sources(prewarm_forecast PRIVATE ${CMAKE_CURRENT_LIST_DIR}/series.cc)
