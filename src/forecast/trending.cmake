# Trending content: per (region, template) ranking of content ids to preload, and its
# offline replay against baselines (issue 17; bench/forecast/trending.sh).
target_sources(prewarm_forecast PRIVATE
  ${CMAKE_CURRENT_LIST_DIR}/trending.cc
  ${CMAKE_CURRENT_LIST_DIR}/trending_replay.cc)
prewarm_test(forecast_trending_test
  SRCS
    ${CMAKE_CURRENT_LIST_DIR}/trending_test.cc
    ${CMAKE_CURRENT_LIST_DIR}/trending_replay_test.cc
  LIBS prewarm_forecast)
