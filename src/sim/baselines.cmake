# Baselines: hybrid-histogram (Shahrad et al., USENIX ATC 2020) and the oracle.
target_sources(prewarm_sim PRIVATE ${CMAKE_CURRENT_LIST_DIR}/baselines.cc)

prewarm_test(sim_baselines_test SRCS ${CMAKE_CURRENT_LIST_DIR}/baselines_test.cc LIBS prewarm_sim)
