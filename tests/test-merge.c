#include <criterion/criterion.h>
Test(merge, todo) {}
