# Simulator core (virtual time, simulated cluster, metrics) and the policies that are
# configurations of the orchestrator's reconciler.
target_sources(prewarm_sim PRIVATE
  ${CMAKE_CURRENT_LIST_DIR}/sim.cc
  ${CMAKE_CURRENT_LIST_DIR}/policies.cc)

prewarm_test(sim_core_test
  SRCS ${CMAKE_CURRENT_LIST_DIR}/sim_test.cc
  LIBS prewarm_sim)
