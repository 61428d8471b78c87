/*
 * test_tensor.c — alignment, resize reuse and shape validation of dn_tensor.
 */
#include <stdint.h>

#include "core/nn/tensor.h"
#include "tests/check.h"

int main(void)
{
	dn_error err;
	dn_tensor t = {0};
	CHECK_RC(dn_tensor_init(&t, 2, 3, 5, 7, &err), DN_OK);
	CHECK(((uintptr_t)t.data % DN_ALIGN) == 0);
	CHECK(dn_tensor_size(&t) == 210);
	for (size_t i = 0; i < dn_tensor_size(&t); i++)
		CHECK(t.data[i] == 0.0f);
	float *before = t.data;
	CHECK_RC(dn_tensor_resize(&t, 1, 3, 5, 7, &err), DN_OK);
	CHECK(t.data == before); /* shrinking reuses the buffer */
	CHECK_RC(dn_tensor_resize(&t, 4, 3, 5, 7, &err), DN_OK);
	CHECK(((uintptr_t)t.data % DN_ALIGN) == 0);
	CHECK(dn_tensor_plane(&t, 1, 2) == t.data + (1 * 3 + 2) * 35);
	dn_tensor_free(&t);
	CHECK(t.data == NULL);

	CHECK_RC(dn_tensor_init(&t, 1, 0, 5, 5, &err), DN_EINVAL);
	CHECK_RC(dn_tensor_init(&t, 1 << 30, 1 << 30, 1 << 30, 8, &err), DN_ELIMIT);
	return check_status();
}
