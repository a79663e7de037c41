# Workloads: real traces (WorldCup98, Azure Functions 2019, generic CSV) turned into per-key
# step counts with a seeded region split, and the seeded arrival process over them.
target_sources(prewarm_sim PRIVATE ${CMAKE_CURRENT_LIST_DIR}/workload.cc)

prewarm_test(sim_workload_test SRCS ${CMAKE_CURRENT_LIST_DIR}/workload_test.cc LIBS prewarm_sim)
# The real traces live beside the project (../shared/data/traces); tests skip without them.
target_compile_definitions(sim_workload_test PRIVATE
  PREWARM_TRACES_DIR="${PROJECT_SOURCE_DIR}/../shared/data/traces")

# Slices (a window of steps, the busiest and sparsest keys): `prewarm replay` and `prewarm
# sim` run the same one.
target_sources(prewarm_sim PRIVATE ${CMAKE_CURRENT_LIST_DIR}/slice.cc)
prewarm_test(sim_slice_test SRCS ${CMAKE_CURRENT_LIST_DIR}/slice_test.cc LIBS prewarm_sim)
