/*
 * test_problem.c — problem+json bodies: every problem kind has a status, a
 * stable URN type and a title, and encodes as JSON with those fields; a
 * detail that is not UTF-8 is dropped rather than breaking the body.
 */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "api/problem.h"
#include "tests/check.h"

int main(void)
{
	for (int id = 0; id < API_P_COUNT; id++) {
		size_t len = 0;
		char *text = api_problem_json(id, "change this", "/v1/x", &len);
		json_error_t je;
		json_t *j = text ? json_loadb(text, len, 0, &je) : NULL;
		int status = api_problem_status(id);

		CHECK(status >= 400 && status < 600);
		CHECK(strncmp(api_problem_type(id), "urn:denoised:problem:", 21) == 0);
		CHECK_MSG(j != NULL, "problem %d: %s", id, text ? text : "(null)");
		CHECK(json_integer_value(json_object_get(j, "status")) == status);
		CHECK(strcmp(json_string_value(json_object_get(j, "type")), api_problem_type(id)) == 0);
		CHECK(strcmp(json_string_value(json_object_get(j, "title")), api_problem_title(id)) == 0);
		CHECK(strcmp(json_string_value(json_object_get(j, "detail")), "change this") == 0);
		CHECK(strcmp(json_string_value(json_object_get(j, "instance")), "/v1/x") == 0);
		/* Types are distinct. */
		for (int k = 0; k < id; k++)
			CHECK(strcmp(api_problem_type(k), api_problem_type(id)) != 0);
		json_decref(j);
		free(text);
	}
	{
		char *text = api_problem_json(API_P_BAD_PARAMETER, "bad \xff byte", NULL, NULL);
		json_error_t je;
		json_t *j = text ? json_loads(text, 0, &je) : NULL;

		CHECK(j && json_object_get(j, "detail") == NULL && json_object_get(j, "instance") == NULL);
		json_decref(j);
		free(text);
	}
	CHECK(api_problem_status(-1) == 500 && api_problem_status(API_P_COUNT) == 500);
	CHECK(api_problem_status(API_P_BODY_TOO_LARGE) == 413);
	CHECK(api_problem_status(API_P_MEDIA_TYPE) == 415);
	CHECK(api_problem_status(API_P_BAD_AUDIO) == 422);
	CHECK(api_problem_status(API_P_OVERLOADED) == 503);
	return check_status();
}
