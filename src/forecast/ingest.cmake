# Ingestion of historical request data into forecast::Series (issue 3, "Inputs"):
# CSV counts (WorldCup98, Prophet), Azure Functions 2019 samples, web access logs.
target_sources(prewarm_forecast PRIVATE
  ${CMAKE_CURRENT_LIST_DIR}/ingest/report.cc
  ${CMAKE_CURRENT_LIST_DIR}/ingest/timestamp.cc
  ${CMAKE_CURRENT_LIST_DIR}/ingest/text.cc
  ${CMAKE_CURRENT_LIST_DIR}/ingest/step_accumulator.cc
  ${CMAKE_CURRENT_LIST_DIR}/ingest/table_reader.cc
  ${CMAKE_CURRENT_LIST_DIR}/ingest/count_csv.cc
  ${CMAKE_CURRENT_LIST_DIR}/ingest/azure.cc
  ${CMAKE_CURRENT_LIST_DIR}/ingest/access_log.cc)

prewarm_test(forecast_ingest_test
  SRCS
    ${CMAKE_CURRENT_LIST_DIR}/ingest/timestamp_test.cc
    ${CMAKE_CURRENT_LIST_DIR}/ingest/count_csv_test.cc
    ${CMAKE_CURRENT_LIST_DIR}/ingest/azure_test.cc
    ${CMAKE_CURRENT_LIST_DIR}/ingest/access_log_test.cc
  LIBS prewarm_forecast)
# The real traces live beside the project (../shared/data/traces); tests skip without them.
target_compile_definitions(forecast_ingest_test PRIVATE
  PREWARM_TRACES_DIR="${PROJECT_SOURCE_DIR}/../shared/data/traces")
