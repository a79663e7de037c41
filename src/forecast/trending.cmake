# Trending content: per (region, template) ranking of content ids to preload (issue 17).
target_sources(prewarm_forecast PRIVATE
  ${CMAKE_CURRENT_LIST_DIR}/trending.cc)
prewarm_test(forecast_trending_test
  SRCS
    ${CMAKE_CURRENT_LIST_DIR}/trending_test.cc
  LIBS prewarm_forecast)
