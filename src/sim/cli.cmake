# What `prewarm sim` is made of beside the core: policies by name with their sweep knobs,
# runs on a few threads (factory), and the table / JSON / CSV / SVG output (report).
target_sources(prewarm_sim PRIVATE
  ${CMAKE_CURRENT_LIST_DIR}/factory.cc
  ${CMAKE_CURRENT_LIST_DIR}/report.cc)

prewarm_test(sim_cli_test SRCS ${CMAKE_CURRENT_LIST_DIR}/factory_test.cc LIBS prewarm_sim)
