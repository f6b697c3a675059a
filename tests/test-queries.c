#include <criterion/criterion.h>
Test(queries, todo) {}
