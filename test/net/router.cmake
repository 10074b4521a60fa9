# ipv4_router against the kernel FIB: include() from test/net/CMakeLists.txt.
add_executable(router_lookup ${CMAKE_CURRENT_LIST_DIR}/router_lookup.c)
target_link_libraries(router_lookup PRIVATE gen_nf)
add_test(NAME net/test_router_fib
  COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/test_router_fib.sh $<TARGET_FILE:router_lookup>)
set_tests_properties(net/test_router_fib PROPERTIES RUN_SERIAL TRUE SKIP_RETURN_CODE 77 TIMEOUT 300)
