/* no_symbol: a shared object without the bulkhead_plugin descriptor. The shim must
 * refuse it with "symbol bulkhead_plugin not found in ...". */
__attribute__((visibility("default"))) int not_a_plugin(void);

int not_a_plugin(void)
{
	return 42;
}
