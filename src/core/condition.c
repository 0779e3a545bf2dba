/*
 * condition.c: compiles a condition (MongoDB query operators, as JSON parsed by json-c) into the
 * tree of condition_internal.h, validating it with JSON-path error messages; and answers the
 * questions the rule index asks of a compiled condition (literals, required values).
 *
 * No PostgreSQL here: libc, json-c, mtalloc.h and mterror.h only, so it is unit-tested and fuzzed
 * alone. Evaluation is in condition_eval.c.
 */
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "condition_internal.h"
#include "mtalloc.h"

#define MT_PATH_MAX 512
#define MT_NUMBER_TEXT_MAX 4000		/* longest number text accepted (PostgreSQL numeric copes) */
#define MT_NUMBER_EXPONENT_MAX 1000 /* largest |exponent| numeric_in accepts */

/* Field operators: the name without "$" and the kind. */
typedef struct MtOpName
{
	const char *name;
	MtOpKind	kind;
} MtOpName;

static const MtOpName field_operators[] = {
	{"eq", MT_OP_EQ}, {"ne", MT_OP_NE}, {"gt", MT_OP_GT}, {"gte", MT_OP_GTE},
	{"lt", MT_OP_LT}, {"lte", MT_OP_LTE}, {"in", MT_OP_IN}, {"nin", MT_OP_NIN},
	{"exists", MT_OP_EXISTS}, {"regex", MT_OP_REGEX}, {"not", MT_OP_NOT}, {"all", MT_OP_ALL},
	{"size", MT_OP_SIZE}, {"elemMatch", MT_OP_ELEM_MATCH}, {"startsWith", MT_OP_STARTS_WITH},
	{"endsWith", MT_OP_ENDS_WITH}, {"contains", MT_OP_CONTAINS},
};

#define MT_OP_OPTIONS ((MtOpKind) -1)	/* "$options": a modifier of $regex, not an operator */

static MtCondition *compile_condition(struct json_object *json, const char *path, MtError *err);
static bool compile_ops(struct json_object *obj, const char *path, MtOp **ops, int *nops,
						MtError *err);
static void free_op_contents(MtOp *op);

/* The canonical "$name" of an operator kind, for messages. */
static const char *
op_display_name(MtOpKind kind)
{
	static char buf[32];

	for (size_t i = 0; i < sizeof(field_operators) / sizeof(field_operators[0]); i++)
		if (field_operators[i].kind == kind)
		{
			snprintf(buf, sizeof(buf), "$%s", field_operators[i].name);
			return buf;
		}
	return "$options";
}

/* Looks up a field operator written with or without "$"; false when it is not one. */
static bool
lookup_field_operator(const char *key, MtOpKind *kind)
{
	const char *name = key[0] == '$' ? key + 1 : key;

	if (strcmp(name, "options") == 0)
	{
		*kind = MT_OP_OPTIONS;
		return true;
	}
	for (size_t i = 0; i < sizeof(field_operators) / sizeof(field_operators[0]); i++)
		if (strcmp(name, field_operators[i].name) == 0)
		{
			*kind = field_operators[i].kind;
			return true;
		}
	return false;
}

/* The logical operator named by key ("$and", or "and" when bare is allowed); false otherwise. */
static bool
lookup_logical_operator(const char *key, bool allow_bare, MtNodeKind *kind)
{
	const char *name;

	if (key[0] == '$')
		name = key + 1;
	else if (allow_bare)
		name = key;
	else
		return false;
	if (strcmp(name, "and") == 0)
		*kind = MT_NODE_AND;
	else if (strcmp(name, "or") == 0)
		*kind = MT_NODE_OR;
	else if (strcmp(name, "nor") == 0)
		*kind = MT_NODE_NOR;
	else
		return false;
	return true;
}

/*
 * Is this object (the value of a field) an operator expression rather than a literal object?
 * Yes when it has a "$" key (unknown ones are then reported as unknown operators), or when every
 * key is a field operator name written without "$" ({"gt": 60}).
 */
static bool
is_operator_object(struct json_object *obj)
{
	bool		all_names = true;
	int			n = 0;

	json_object_object_foreach(obj, key, val)
	{
		MtOpKind	kind;

		(void) val;
		n++;
		if (key[0] == '$')
			return true;
		if (!lookup_field_operator(key, &kind))
			all_names = false;
	}
	return n > 0 && all_names;
}

/* Does an operator object name a logical operator ("$and" ...) among its keys? */
static bool
has_logical_key(struct json_object *obj)
{
	json_object_object_foreach(obj, key, val)
	{
		MtNodeKind	kind;

		(void) val;
		if (lookup_logical_operator(key, false, &kind))
			return true;
	}
	return false;
}

/*
 * Is text a JSON number whose exponent and length PostgreSQL's numeric_in accepts, so the
 * evaluator can convert it without an error?
 */
static bool
number_text_is_valid(const char *text)
{
	const char *c = text;
	long		exponent = 0;

	if (strlen(text) > MT_NUMBER_TEXT_MAX)
		return false;
	if (*c == '-')
		c++;
	if (!isdigit((unsigned char) *c))
		return false;
	while (isdigit((unsigned char) *c))
		c++;
	if (*c == '.')
	{
		c++;
		if (!isdigit((unsigned char) *c))
			return false;
		while (isdigit((unsigned char) *c))
			c++;
	}
	if (*c == 'e' || *c == 'E')
	{
		c++;
		if (*c == '+' || *c == '-')
			c++;
		if (!isdigit((unsigned char) *c))
			return false;
		while (isdigit((unsigned char) *c))
		{
			if (exponent <= MT_NUMBER_EXPONENT_MAX)
				exponent = exponent * 10 + (*c - '0');
			c++;
		}
		if (exponent > MT_NUMBER_EXPONENT_MAX)
			return false;
	}
	return *c == '\0';
}

/* Converts a JSON literal into an MtValue (deeply); numbers keep their exact text. */
static bool
compile_value(struct json_object *json, MtValue *value, const char *path, MtError *err)
{
	memset(value, 0, sizeof(*value));
	switch (json_object_get_type(json))
	{
		case json_type_null:
			value->kind = MT_VALUE_NULL;
			return true;
		case json_type_boolean:
			value->kind = MT_VALUE_BOOL;
			value->boolean = json_object_get_boolean(json);
			return true;
		case json_type_int:
		case json_type_double:
			{
				const char *text = json_object_to_json_string_ext(json, JSON_C_TO_STRING_PLAIN);
				char		buf[64];

				value->kind = MT_VALUE_NUMBER;
				value->number = json_object_get_double(json);
				if (!isfinite(value->number))
					return mt_error_set(err, path, "numbers must be finite");
				if (!number_text_is_valid(text))
				{
					/* a lenient parse ("1.", "+1") or a huge literal: use the double's text */
					snprintf(buf, sizeof(buf), "%.17g", value->number);
					text = buf;
					if (!number_text_is_valid(text))
						return mt_error_set(err, path, "number out of range");
				}
				value->len = strlen(text);
				value->text = mt_strndup(text, value->len);
				return true;
			}
		case json_type_string:
			value->kind = MT_VALUE_STRING;
			value->len = (size_t) json_object_get_string_len(json);
			value->text = mt_strndup(json_object_get_string(json), value->len);
			return true;
		case json_type_array:
			{
				size_t		n = json_object_array_length(json);

				value->kind = MT_VALUE_ARRAY;
				value->items = mt_alloc(sizeof(MtValue) * (n ? n : 1));
				for (size_t i = 0; i < n; i++)
				{
					char		item_path[MT_PATH_MAX];

					mt_path_index(item_path, sizeof(item_path), path, (int) i);
					value->count = (int) i + 1;
					if (!compile_value(json_object_array_get_idx(json, i), &value->items[i],
									   item_path, err))
						return false;
				}
				return true;
			}
		case json_type_object:
			{
				int			n = json_object_object_length(json);
				int			i = 0;

				value->kind = MT_VALUE_OBJECT;
				value->items = mt_alloc(sizeof(MtValue) * (n ? n : 1));
				value->keys = mt_alloc(sizeof(char *) * (n ? n : 1));
				value->key_lens = mt_alloc(sizeof(size_t) * (n ? n : 1));
				{
					json_object_object_foreach(json, key, member)
					{
					char		member_path[MT_PATH_MAX];

					mt_path_key(member_path, sizeof(member_path), path, key);
					value->key_lens[i] = strlen(key);
					value->keys[i] = mt_strndup(key, value->key_lens[i]);
					value->count = i + 1;
					if (!compile_value(member, &value->items[i], member_path, err))
						return false;
					i++;
					}
				}
				return true;
			}
	}
	return mt_error_set(err, path, "unsupported JSON value");
}

/* Releases what an MtValue owns (not the struct itself). */
static void
free_value_contents(MtValue *value)
{
	for (int i = 0; i < value->count; i++)
	{
		free_value_contents(&value->items[i]);
		if (value->keys)
			mt_free(value->keys[i]);
	}
	mt_free(value->items);
	mt_free(value->keys);
	mt_free(value->key_lens);
	mt_free(value->text);
	mt_free(value->numeric);
	memset(value, 0, sizeof(*value));
}

/*
 * The canonical key of a decimal number text: a sign, the significant digits (no leading or
 * trailing zeros) and the power of ten of the last one, e.g. "2.50" -> "+25e-1", "1e2" and
 * "100.000" -> "+1e2", "-0" -> "0". Returns the key length; 0 when the text is not a number or the
 * key does not fit in outsize bytes (then it equals no key that fits).
 */
size_t
mt_number_key(const char *text, size_t len, char *out, size_t outsize)
{
	size_t		i = 0;
	size_t		n = 0;
	bool		negative = false;
	long		frac_digits = 0;
	long		pending_zeros = 0;	/* zeros after the last significant digit */
	long		exponent = 0;
	bool		exponent_negative = false;
	bool		any_digit = false;
	bool		in_fraction = false;
	int			written;

	if (outsize < 2)
		return 0;
	if (i < len && (text[i] == '-' || text[i] == '+'))
		negative = text[i++] == '-';
	out[n++] = negative ? '-' : '+';
	for (; i < len; i++)
	{
		char		c = text[i];

		if (c == '.' && !in_fraction)
		{
			in_fraction = true;
			continue;
		}
		if (!isdigit((unsigned char) c))
			break;
		any_digit = true;
		if (in_fraction)
			frac_digits++;
		if (c == '0')
		{
			if (n > 1)
				pending_zeros++;	/* leading zeros are dropped */
			continue;
		}
		for (; pending_zeros > 0; pending_zeros--)
		{
			if (n + 1 >= outsize)
				return 0;
			out[n++] = '0';
		}
		if (n + 1 >= outsize)
			return 0;
		out[n++] = c;
	}
	if (!any_digit)
		return 0;
	if (i < len && (text[i] == 'e' || text[i] == 'E'))
	{
		i++;
		if (i < len && (text[i] == '-' || text[i] == '+'))
			exponent_negative = text[i++] == '-';
		if (i >= len || !isdigit((unsigned char) text[i]))
			return 0;
		for (; i < len && isdigit((unsigned char) text[i]); i++)
			if (exponent < 100000000L)
				exponent = exponent * 10 + (text[i] - '0');
		if (exponent_negative)
			exponent = -exponent;
	}
	if (i != len)
		return 0;
	if (n == 1)
	{
		out[0] = '0';			/* zero, whatever its sign and spelling */
		out[1] = '\0';
		return 1;
	}
	written = snprintf(out + n, outsize - n, "e%ld", exponent - frac_digits + pending_zeros);
	if (written < 0 || (size_t) written >= outsize - n)
		return 0;
	return n + (size_t) written;
}

/* Byte-wise order of two byte strings: memcmp over the common prefix, then the shorter first. */
static int
compare_bytes(const char *a, size_t alen, const char *b, size_t blen)
{
	int			c = memcmp(a, b, alen < blen ? alen : blen);

	if (c != 0)
		return c;
	return (alen > blen) - (alen < blen);
}

/* The first 8 bytes of a byte string as a big-endian number, zero-padded: they order as memcmp. */
static uint64_t
key_prefix(const char *bytes, size_t len)
{
	uint64_t	prefix = 0;

	for (size_t i = 0; i < 8; i++)
		prefix = (prefix << 8) | (i < len ? (unsigned char) bytes[i] : 0);
	return prefix;
}

/* Order of two index keys: the prefixes first (no pointer to follow), then the bytes. */
static int
compare_in_keys(const MtInKey *x, const MtInKey *y)
{
	if (x->prefix != y->prefix)
		return x->prefix < y->prefix ? -1 : 1;
	return compare_bytes(x->bytes, x->len, y->bytes, y->len);
}

/* qsort comparator for MtInKey. */
static int
compare_in_keys_qsort(const void *a, const void *b)
{
	return compare_in_keys(a, b);
}

/* An index key over bytes. */
static MtInKey
make_in_key(const char *bytes, size_t len)
{
	MtInKey		key = {key_prefix(bytes, len), bytes, len};

	return key;
}

/* Builds the sorted index of a long $in / $nin list (see MtInIndex). */
static MtInIndex *
build_in_index(const MtValue *values, int n)
{
	MtInIndex  *index = mt_alloc(sizeof(MtInIndex));
	char	   *buf = mt_alloc(MT_NUMBER_KEY_MAX);

	index->strings = mt_alloc(sizeof(MtInKey) * (size_t) n);
	index->numbers = mt_alloc(sizeof(MtInKey) * (size_t) n);
	index->composites = mt_alloc(sizeof(MtValue *) * (size_t) n);
	for (int i = 0; i < n; i++)
	{
		const MtValue *v = &values[i];
		size_t		klen;

		switch (v->kind)
		{
			case MT_VALUE_NULL:
				index->has_null = true;
				break;
			case MT_VALUE_BOOL:
				if (v->boolean)
					index->has_true = true;
				else
					index->has_false = true;
				break;
			case MT_VALUE_STRING:
				index->strings[index->nstrings++] = make_in_key(v->text, v->len);
				break;
			case MT_VALUE_NUMBER:
				klen = mt_number_key(v->text, v->len, buf, MT_NUMBER_KEY_MAX);
				if (klen == 0)
				{
					/* cannot happen for a validated number; compare it the slow way */
					index->composites[index->ncomposites++] = v;
					break;
				}
				index->numbers[index->nnumbers++] = make_in_key(mt_strndup(buf, klen), klen);
				break;
			case MT_VALUE_ARRAY:
			case MT_VALUE_OBJECT:
				index->composites[index->ncomposites++] = v;
				break;
		}
	}
	mt_free(buf);
	qsort(index->strings, (size_t) index->nstrings, sizeof(MtInKey), compare_in_keys_qsort);
	qsort(index->numbers, (size_t) index->nnumbers, sizeof(MtInKey), compare_in_keys_qsort);
	return index;
}

/* Releases an index made by build_in_index (the string bytes belong to the op's values). */
static void
free_in_index(MtInIndex *index)
{
	if (index == NULL)
		return;
	for (int i = 0; i < index->nnumbers; i++)
		mt_free((char *) index->numbers[i].bytes);
	mt_free(index->numbers);
	mt_free(index->strings);
	mt_free(index->composites);
	mt_free(index);
}

/* Is the probe one of the sorted keys? Binary search. */
static bool
in_keys_contain(const MtInKey *keys, int n, const char *bytes, size_t len)
{
	MtInKey		probe = make_in_key(bytes, len);
	int			lo = 0,
				hi = n;

	while (lo < hi)
	{
		int			mid = lo + (hi - lo) / 2;
		int			c = compare_in_keys(&keys[mid], &probe);

		if (c == 0)
			return true;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return false;
}

/* Is the string (bytes) one of the index's string values? */
bool
mt_in_index_has_string(const MtInIndex *index, const char *s, size_t len)
{
	return in_keys_contain(index->strings, index->nstrings, s, len);
}

/* Is the canonical number key one of the index's number keys? */
bool
mt_in_index_has_number_key(const MtInIndex *index, const char *key, size_t len)
{
	return in_keys_contain(index->numbers, index->nnumbers, key, len);
}

/* Does pattern[i..] start with the ASCII text s? */
static bool
starts_with_at(const char *pattern, size_t len, size_t i, const char *s)
{
	size_t		n = strlen(s);

	return i + n <= len && memcmp(pattern + i, s, n) == 0;
}

/*
 * Counts the back-references, lookaheads and lookbehinds of a pattern in PostgreSQL's ARE syntax
 * (see MtRegexFeatures). Escaped characters, bracket expressions, (?#...) and x-mode comments
 * are skipped; a pattern made literal by ***= or an embedded (?q) has none.
 */
void
mt_regex_scan(const char *pattern, size_t len, int flags, MtRegexFeatures *out)
{
	size_t		i = 0;
	bool		expanded = (flags & MT_REGEX_EXTENDED) != 0;
	int			groups = 0;

	memset(out, 0, sizeof(*out));
	if (starts_with_at(pattern, len, 0, "***="))
		return;
	if (starts_with_at(pattern, len, 0, "***:"))
		i = 4;
	/* embedded options, only at the start: (?xyz) */
	if (starts_with_at(pattern, len, i, "(?"))
	{
		size_t		j = i + 2;
		bool		quoted = false;
		bool		x = expanded;

		while (j < len && strchr("bceimnpqstwx", pattern[j]) != NULL && pattern[j] != '\0')
		{
			if (pattern[j] == 'q')
				quoted = true;
			else if (pattern[j] == 'x')
				x = true;
			else if (pattern[j] == 't')
				x = false;
			j++;
		}
		if (j > i + 2 && j < len && pattern[j] == ')')
		{
			if (quoted)
				return;
			expanded = x;
			i = j + 1;
		}
	}
	while (i < len)
	{
		char		c = pattern[i];

		if (expanded && (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'))
		{
			i++;
			continue;
		}
		if (expanded && c == '#')
		{
			while (i < len && pattern[i] != '\n')
				i++;
			continue;
		}
		if (c == '\\')
		{
			if (i + 1 < len && pattern[i + 1] >= '1' && pattern[i + 1] <= '9')
			{
				size_t		j = i + 1;
				long		number = 0;

				while (j < len && isdigit((unsigned char) pattern[j]))
				{
					if (number < 100000)
						number = number * 10 + (pattern[j] - '0');
					j++;
				}
				/* one digit is always a back-reference; more are one if such a group exists */
				if (j == i + 2 || number <= groups)
					out->backrefs++;
				i = j;
				continue;
			}
			i += 2;
			continue;
		}
		if (c == '[')
		{
			/* a bracket expression: a leading ^ and a leading ] are part of it */
			i++;
			if (i < len && pattern[i] == '^')
				i++;
			if (i < len && pattern[i] == ']')
				i++;
			while (i < len && pattern[i] != ']')
			{
				if (pattern[i] == '[' && i + 1 < len && strchr(".=:", pattern[i + 1]) != NULL)
				{
					char		close = pattern[i + 1];

					i += 2;
					while (i + 1 < len && !(pattern[i] == close && pattern[i + 1] == ']'))
						i++;
					i += 2;
					continue;
				}
				i += pattern[i] == '\\' ? 2 : 1;
			}
			i++;
			continue;
		}
		if (c == '(')
		{
			if (starts_with_at(pattern, len, i, "(?#"))
			{
				while (i < len && pattern[i] != ')')
					i++;
				i++;
				continue;
			}
			if (starts_with_at(pattern, len, i, "(?=") || starts_with_at(pattern, len, i, "(?!"))
				out->lookaheads++;
			else if (starts_with_at(pattern, len, i, "(?<=") || starts_with_at(pattern, len, i, "(?<!"))
				out->lookbehinds++;
			else if (!starts_with_at(pattern, len, i, "(?"))
				groups++;
		}
		i++;
	}
}

/*
 * Refuses what makes PostgreSQL's regex engine super-linear in the subject's length (see
 * MtRegexFeatures): an event INSERT must never wait on one rule.
 */
static bool
check_regex_cost(const MtOp *op, const char *path, MtError *err)
{
	MtRegexFeatures features;

	mt_regex_scan(op->value.text, op->value.len, op->regex_flags, &features);
	if (features.backrefs > 0)
		return mt_error_set(err, path, "%s", MT_REGEX_BACKREF_MESSAGE);
	if (features.lookaheads > 0)
		return mt_error_set(err, path, "%s", MT_REGEX_LOOKAHEAD_MESSAGE);
	return true;
}

/* Splits a dotted field name into steps; empty steps ("a..b") are an error. */
static bool
compile_path(MtCondition *node, const char *field, const char *path, MtError *err)
{
	int			nsteps = 1;
	const char *start = field;

	for (const char *c = field; *c; c++)
		if (*c == '.')
			nsteps++;
	node->field = mt_strndup(field, strlen(field));
	node->steps = mt_alloc(sizeof(MtPathStep) * nsteps);
	for (int i = 0; i < nsteps; i++)
	{
		const char *end = strchr(start, '.');
		int			len = end ? (int) (end - start) : (int) strlen(start);
		MtPathStep *step = &node->steps[i];

		if (len == 0)
			return mt_error_set(err, path, "empty field name in path \"%s\"", field);
		step->name = mt_strndup(start, len);
		step->len = len;
		step->is_index = len <= 9;
		for (int j = 0; j < len; j++)
			if (!isdigit((unsigned char) start[j]))
				step->is_index = false;
		if (step->is_index)
			step->index = atoi(step->name);
		node->nsteps = i + 1;
		start = end ? end + 1 : start + len;
	}
	return true;
}

/* Parses $options ("imsx") into MT_REGEX_* flags. */
static bool
compile_regex_options(struct json_object *json, const char *path, int *flags, MtError *err)
{
	const char *options;

	if (!json_object_is_type(json, json_type_string))
		return mt_error_set(err, path, "$options needs a string");
	options = json_object_get_string(json);
	for (const char *c = options; *c; c++)
	{
		switch (*c)
		{
			case 'i':
				*flags |= MT_REGEX_ICASE;
				break;
			case 'm':
				*flags |= MT_REGEX_MULTILINE;
				break;
			case 's':
				*flags |= MT_REGEX_DOTALL;
				break;
			case 'x':
				*flags |= MT_REGEX_EXTENDED;
				break;
			default:
				return mt_error_set(err, path,
									"unknown $options flag \"%c\" (allowed: i, m, s, x)", *c);
		}
	}
	return true;
}

/* Compiles the operand of {"$elemMatch": ...}: operators on elements, or a condition on them. */
static bool
compile_elem_match(struct json_object *json, MtOp *op, const char *path, MtError *err)
{
	if (!json_object_is_type(json, json_type_object))
		return mt_error_set(err, path, "$elemMatch needs an object");
	if (is_operator_object(json) && !has_logical_key(json))
		return compile_ops(json, path, &op->ops, &op->nops, err);
	op->sub = compile_condition(json, path, err);
	return op->sub != NULL;
}

/* Compiles the operand of $all: values, or {"$elemMatch": ...} entries. */
static bool
compile_all(struct json_object *json, MtOp *op, const char *path, MtError *err)
{
	size_t		n;

	if (!json_object_is_type(json, json_type_array))
		return mt_error_set(err, path, "$all needs an array");
	n = json_object_array_length(json);
	op->ops = mt_alloc(sizeof(MtOp) * (n ? n : 1));
	for (size_t i = 0; i < n; i++)
	{
		struct json_object *entry = json_object_array_get_idx(json, i);
		struct json_object *elem_match = NULL;
		MtOp	   *child = &op->ops[i];
		char		entry_path[MT_PATH_MAX];

		op->nops = (int) i + 1;
		mt_path_index(entry_path, sizeof(entry_path), path, (int) i);
		if (json_object_is_type(entry, json_type_object) && json_object_object_length(entry) == 1 &&
			(json_object_object_get_ex(entry, "$elemMatch", &elem_match) ||
			 json_object_object_get_ex(entry, "elemMatch", &elem_match)))
		{
			char		em_path[MT_PATH_MAX];

			mt_path_key(em_path, sizeof(em_path), entry_path,
						json_object_object_get_ex(entry, "$elemMatch", NULL) ? "$elemMatch" : "elemMatch");
			child->kind = MT_OP_ELEM_MATCH;
			if (!compile_elem_match(elem_match, child, em_path, err))
				return false;
		}
		else
		{
			child->kind = MT_OP_EQ;
			if (!compile_value(entry, &child->value, entry_path, err))
				return false;
		}
	}
	return true;
}

/* Compiles one field operator's operand into op (op->kind is set). */
static bool
compile_op(struct json_object *operand, struct json_object *options, MtOp *op,
		   const char *path, const char *options_path, MtError *err)
{
	const char *name = op_display_name(op->kind);

	switch (op->kind)
	{
		case MT_OP_EQ:
		case MT_OP_NE:
			return compile_value(operand, &op->value, path, err);
		case MT_OP_GT:
		case MT_OP_GTE:
		case MT_OP_LT:
		case MT_OP_LTE:
			if (json_object_is_type(operand, json_type_array) ||
				json_object_is_type(operand, json_type_object))
				return mt_error_set(err, path, "%s needs a number, string, boolean or null", name);
			return compile_value(operand, &op->value, path, err);
		case MT_OP_IN:
		case MT_OP_NIN:
			{
				size_t		n;

				if (!json_object_is_type(operand, json_type_array))
					return mt_error_set(err, path, "%s needs an array", name);
				n = json_object_array_length(operand);
				op->values = mt_alloc(sizeof(MtValue) * (n ? n : 1));
				for (size_t i = 0; i < n; i++)
				{
					char		item_path[MT_PATH_MAX];

					mt_path_index(item_path, sizeof(item_path), path, (int) i);
					op->nvalues = (int) i + 1;
					if (!compile_value(json_object_array_get_idx(operand, i), &op->values[i],
									   item_path, err))
						return false;
				}
				if (op->nvalues >= MT_IN_INDEX_MIN)
					op->in_index = build_in_index(op->values, op->nvalues);
				return true;
			}
		case MT_OP_EXISTS:
			if (json_object_is_type(operand, json_type_boolean))
				op->exists = json_object_get_boolean(operand);
			else if (json_object_is_type(operand, json_type_int) ||
					 json_object_is_type(operand, json_type_double))
				op->exists = json_object_get_double(operand) != 0;
			else
				return mt_error_set(err, path, "$exists needs a boolean");
			return true;
		case MT_OP_REGEX:
			if (!json_object_is_type(operand, json_type_string))
				return mt_error_set(err, path, "$regex needs a string");
			if (options && !compile_regex_options(options, options_path, &op->regex_flags, err))
				return false;
			op->path = mt_strndup(path, strlen(path));
			return compile_value(operand, &op->value, path, err) && check_regex_cost(op, path, err);
		case MT_OP_NOT:
			if (!json_object_is_type(operand, json_type_object) || !is_operator_object(operand) ||
				has_logical_key(operand))
				return mt_error_set(err, path, "$not needs an object of operators, e.g. {\"$not\": {\"$gt\": 5}}");
			return compile_ops(operand, path, &op->ops, &op->nops, err);
		case MT_OP_ALL:
			return compile_all(operand, op, path, err);
		case MT_OP_SIZE:
			{
				double		d = json_object_get_double(operand);

				if ((!json_object_is_type(operand, json_type_int) &&
					 !json_object_is_type(operand, json_type_double)) ||
					!(d >= 0) || d > 2147483647.0 || d != (double) (int64_t) d)
					return mt_error_set(err, path, "$size needs a non-negative integer");
				op->size = (int64_t) d;
				return true;
			}
		case MT_OP_ELEM_MATCH:
			return compile_elem_match(operand, op, path, err);
		case MT_OP_STARTS_WITH:
		case MT_OP_ENDS_WITH:
		case MT_OP_CONTAINS:
			if (!json_object_is_type(operand, json_type_string))
				return mt_error_set(err, path, "%s needs a string", name);
			return compile_value(operand, &op->value, path, err);
	}
	return mt_error_set(err, path, "unsupported operator");
}

/*
 * Compiles an operator object ({"$gt": 1, "$lt": 5}; bare names allowed) found at path into an
 * array of operators. $options goes with the $regex of the same object.
 */
static bool
compile_ops(struct json_object *obj, const char *path, MtOp **ops, int *nops, MtError *err)
{
	int			n = json_object_object_length(obj);
	struct json_object *options = NULL;
	const char *options_key = NULL;
	bool		has_regex = false;
	char		options_path[MT_PATH_MAX] = "";

	/* first pass: every key must be a field operator; find $regex and $options */
	json_object_object_foreach(obj, key, val)
	{
		MtOpKind	kind;
		MtNodeKind	logical;

		if (lookup_logical_operator(key, false, &logical))
			return mt_error_set(err, path, "operator \"%s\" is not allowed on a field; use it at the level of the condition", key);
		if (!lookup_field_operator(key, &kind))
			return mt_error_set(err, path, "unknown operator \"%s\"", key);
		if (kind == MT_OP_OPTIONS)
		{
			options = val;
			options_key = key;
		}
		else if (kind == MT_OP_REGEX)
			has_regex = true;
	}
	if (options_key)
	{
		mt_path_key(options_path, sizeof(options_path), path, options_key);
		if (!has_regex)
			return mt_error_set(err, options_path, "$options needs $regex");
	}

	*ops = mt_alloc(sizeof(MtOp) * (n ? n : 1));
	*nops = 0;
	{
		json_object_object_foreach(obj, key2, val2)
		{
			MtOpKind	kind;
			MtOp	   *op;
			char		op_path[MT_PATH_MAX];

			lookup_field_operator(key2, &kind);
			if (kind == MT_OP_OPTIONS)
				continue;
			op = &(*ops)[(*nops)++];
			op->kind = kind;
			mt_path_key(op_path, sizeof(op_path), path, key2);
			if (!compile_op(val2, options, op, op_path, options_path, err))
				return false;
		}
	}
	return true;
}

/* Compiles one "field": value entry of a condition object into a field node. */
static MtCondition *
compile_field(const char *field, struct json_object *value, const char *path, MtError *err)
{
	MtCondition *node = mt_alloc(sizeof(MtCondition));

	node->kind = MT_NODE_FIELD;
	if (!compile_path(node, field, path, err))
		goto fail;
	if (json_object_is_type(value, json_type_object) && is_operator_object(value))
	{
		if (!compile_ops(value, path, &node->ops, &node->nops, err))
			goto fail;
	}
	else
	{
		node->ops = mt_alloc(sizeof(MtOp));
		node->nops = 1;
		node->ops[0].kind = MT_OP_EQ;
		if (!compile_value(value, &node->ops[0].value, path, err))
			goto fail;
	}
	return node;

fail:
	mt_condition_free(node);
	return NULL;
}

/* Compiles the operand of $and / $or / $nor: a non-empty array of condition objects. */
static MtCondition *
compile_logical(MtNodeKind kind, const char *name, struct json_object *value, const char *path,
				MtError *err)
{
	MtCondition *node;
	size_t		n;

	if (!json_object_is_type(value, json_type_array) || json_object_array_length(value) == 0)
	{
		mt_error_set(err, path, "%s needs a non-empty array of objects", name);
		return NULL;
	}
	n = json_object_array_length(value);
	for (size_t i = 0; i < n; i++)
		if (!json_object_is_type(json_object_array_get_idx(value, i), json_type_object))
		{
			char		item_path[MT_PATH_MAX];

			mt_path_index(item_path, sizeof(item_path), path, (int) i);
			mt_error_set(err, item_path, "%s needs a non-empty array of objects", name);
			return NULL;
		}
	node = mt_alloc(sizeof(MtCondition));
	node->kind = kind;
	node->children = mt_alloc(sizeof(MtCondition *) * n);
	for (size_t i = 0; i < n; i++)
	{
		char		item_path[MT_PATH_MAX];

		mt_path_index(item_path, sizeof(item_path), path, (int) i);
		node->children[i] = compile_condition(json_object_array_get_idx(value, i), item_path, err);
		if (node->children[i] == NULL)
		{
			mt_condition_free(node);
			return NULL;
		}
		node->nchildren = (int) i + 1;
	}
	return node;
}

/*
 * Compiles a condition object: the AND of its entries, each a field ("a.b": value or operators)
 * or a logical operator. Bare and/or/nor are accepted when every key of the object is one.
 */
static MtCondition *
compile_condition(struct json_object *json, const char *path, MtError *err)
{
	MtCondition *node;
	bool		bare_logical = true;
	int			n;

	if (!json_object_is_type(json, json_type_object))
	{
		mt_error_set(err, path, "a condition must be an object");
		return NULL;
	}
	n = json_object_object_length(json);
	{
		json_object_object_foreach(json, key, val)
		{
			MtNodeKind	kind;

			(void) val;
			if (!lookup_logical_operator(key, true, &kind))
				bare_logical = false;
		}
	}

	node = mt_alloc(sizeof(MtCondition));
	node->kind = MT_NODE_AND;
	node->children = mt_alloc(sizeof(MtCondition *) * (n ? n : 1));
	{
		json_object_object_foreach(json, key, val)
		{
			char		key_path[MT_PATH_MAX];
			MtNodeKind	logical;
			MtOpKind	op_kind;
			MtCondition *child;

			mt_path_key(key_path, sizeof(key_path), path, key);
			if (lookup_logical_operator(key, bare_logical, &logical))
			{
				char		name[16];

				snprintf(name, sizeof(name), "$%s", key[0] == '$' ? key + 1 : key);
				child = compile_logical(logical, name, val, key_path, err);
			}
			else if (key[0] == '$' && lookup_field_operator(key, &op_kind))
			{
				mt_error_set(err, key_path,
							 "operator \"%s\" needs a field, as in {\"field\": {\"%s\": ...}}", key, key);
				child = NULL;
			}
			else if (key[0] == '$')
			{
				mt_error_set(err, key_path, "unknown top-level operator \"%s\"", key);
				child = NULL;
			}
			else
				child = compile_field(key, val, key_path, err);
			if (child == NULL)
			{
				mt_condition_free(node);
				return NULL;
			}
			node->children[node->nchildren++] = child;
		}
	}
	return node;
}

/* Compiles a condition object found at path; NULL and *err filled when it is not valid. */
static void order_cheapest_first(MtCondition *cond);

MtCondition *
mt_condition_compile(struct json_object *json, const char *path, MtError *err)
{
	MtCondition *cond = compile_condition(json, path ? path : "$", err);

	if (cond != NULL)
		order_cheapest_first(cond);
	return cond;
}

/* The relative cost of evaluating one operator (a regex is the dearest by far). */
static int
op_cost(const MtOp *op)
{
	switch (op->kind)
	{
		case MT_OP_REGEX:
			return 50;
		case MT_OP_ELEM_MATCH:
			return 20;
		case MT_OP_ALL:
		case MT_OP_NOT:
			return 8;
		case MT_OP_IN:
		case MT_OP_NIN:
		case MT_OP_STARTS_WITH:
		case MT_OP_ENDS_WITH:
		case MT_OP_CONTAINS:
			return 3;
		default:
			return 2;
	}
}

/* The relative cost of evaluating a node: its operators and children. */
static int
node_cost(const MtCondition *cond)
{
	int			cost = cond->kind == MT_NODE_FIELD ? cond->nsteps : 0;

	for (int i = 0; i < cond->nops; i++)
		cost += op_cost(&cond->ops[i]);
	for (int i = 0; i < cond->nchildren; i++)
		cost += node_cost(cond->children[i]);
	return cost;
}

/* qsort comparator: cheaper children first. */
static int
compare_node_cost(const void *a, const void *b)
{
	int			ca = node_cost(*(MtCondition *const *) a);
	int			cb = node_cost(*(MtCondition *const *) b);

	return (ca > cb) - (ca < cb);
}

/* qsort comparator: cheaper operators first. */
static int
compare_op_cost(const void *a, const void *b)
{
	int			ca = op_cost(a);
	int			cb = op_cost(b);

	return (ca > cb) - (ca < cb);
}

/*
 * Orders the parts of every AND (and the operators on a field) cheapest first: they all must
 * hold and evaluation never fails, so the result is the same, but a cheap mismatch
 * (time_spent > 90) now spares the regex. OR and NOR keep their order (any order is right).
 */
static void
order_cheapest_first(MtCondition *cond)
{
	for (int i = 0; i < cond->nchildren; i++)
		order_cheapest_first(cond->children[i]);
	for (int i = 0; i < cond->nops; i++)
	{
		if (cond->ops[i].sub != NULL)
			order_cheapest_first(cond->ops[i].sub);
	}
	if (cond->kind == MT_NODE_AND && cond->nchildren > 1)
		qsort(cond->children, cond->nchildren, sizeof(MtCondition *), compare_node_cost);
	if (cond->kind == MT_NODE_FIELD && cond->nops > 1)
		qsort(cond->ops, cond->nops, sizeof(MtOp), compare_op_cost);
}


/* Parses JSON text with json-c and compiles it (see condition.h). */
MtCondition *
mt_condition_compile_text(const char *text, size_t len, int max_depth, const char *path,
						  MtError *err)
{
	struct json_tokener *tokener = json_tokener_new_ex(max_depth);
	struct json_object *json;
	enum json_tokener_error parse_error;
	MtCondition *compiled;

	if (path == NULL)
		path = "$";
	if (tokener == NULL)
	{
		mt_error_set(err, path, "out of memory");
		return NULL;
	}
	json = json_tokener_parse_ex(tokener, text, (int) len);
	parse_error = json_tokener_get_error(tokener);
	if (json == NULL && parse_error == json_tokener_continue)
	{
		/* a top-level number ("5") ends only at a terminator: give it one */
		json = json_tokener_parse_ex(tokener, "", 1);
		parse_error = json_tokener_get_error(tokener);
		len = json_tokener_get_parse_end(tokener);
	}
	if (json != NULL && parse_error == json_tokener_success &&
		json_tokener_get_parse_end(tokener) < len)
		parse_error = json_tokener_error_parse_unexpected;
	json_tokener_free(tokener);
	if (json == NULL || parse_error != json_tokener_success)
	{
		json_object_put(json);
		if (parse_error == json_tokener_error_depth)
			mt_error_set(err, path, "condition is nested more than %d levels deep", max_depth);
		else
			mt_error_set(err, path, "invalid JSON: %s", json_tokener_error_desc(parse_error));
		return NULL;
	}
	compiled = compile_condition(json, path, err);
	json_object_put(json);
	return compiled;
}

/* Releases what an operator owns (not the struct itself). */
static void
free_op_contents(MtOp *op)
{
	free_value_contents(&op->value);
	free_in_index(op->in_index);
	for (int i = 0; i < op->nvalues; i++)
		free_value_contents(&op->values[i]);
	mt_free(op->values);
	for (int i = 0; i < op->nops; i++)
		free_op_contents(&op->ops[i]);
	mt_free(op->ops);
	mt_condition_free(op->sub);
	mt_free(op->path);
	/* op->compiled belongs to the evaluator, which releases it with its memory context */
}

/* Frees a tree made by mt_condition_compile (NULL is allowed). */
void
mt_condition_free(MtCondition *cond)
{
	if (cond == NULL)
		return;
	for (int i = 0; i < cond->nchildren; i++)
		mt_condition_free(cond->children[i]);
	mt_free(cond->children);
	mt_free(cond->field);
	for (int i = 0; i < cond->nsteps; i++)
		mt_free(cond->steps[i].name);
	mt_free(cond->steps);
	for (int i = 0; i < cond->nops; i++)
		free_op_contents(&cond->ops[i]);
	mt_free(cond->ops);
	mt_free(cond);
}

/* True when the condition is the empty object {} (matches everything). */
bool
mt_condition_is_empty(const MtCondition *cond)
{
	return cond != NULL && cond->kind == MT_NODE_AND && cond->nchildren == 0;
}

/*
 * The literal text every string matching an anchored regex starts with ("^/blog/post-" gives
 * "/blog/post-"), or 0 when there is none we can be sure of: not anchored, case-insensitive,
 * multi-line, extended, or holding an alternation anywhere.
 */
static size_t
regex_literal_prefix(const MtOp *op)
{
	const char *text = op->value.text;
	size_t		len = op->value.len;
	size_t		i;

	if (len < 2 || text[0] != '^' ||
		(op->regex_flags & (MT_REGEX_ICASE | MT_REGEX_MULTILINE | MT_REGEX_EXTENDED)) != 0 ||
		memchr(text, '|', len) != NULL)
		return 0;
	for (i = 1; i < len && strchr(".[]()*+?{}\\$^", text[i]) == NULL; i++)
		;
	/* a quantifier that may drop the last literal character: do not count it */
	if (i < len && (text[i] == '*' || text[i] == '?' || text[i] == '{'))
		i--;
	return i > 1 ? i - 1 : 0;
}

/* Reports the literal constraints of an AND node (the top level or $and), recursively. */
static void
collect_literals(const MtCondition *cond, MtLiteralCallback cb, void *arg)
{
	if (cond->kind == MT_NODE_AND)
	{
		for (int i = 0; i < cond->nchildren; i++)
			collect_literals(cond->children[i], cb, arg);
		return;
	}
	if (cond->kind != MT_NODE_FIELD || cond->nsteps != 1)
		return;
	for (int i = 0; i < cond->nops; i++)
	{
		const MtOp *op = &cond->ops[i];

		if (op->value.kind != MT_VALUE_STRING)
			continue;
		if (op->kind == MT_OP_EQ)
			cb(arg, cond->field, MT_LITERAL_EQUALS, op->value.text, op->value.len);
		else if (op->kind == MT_OP_STARTS_WITH)
			cb(arg, cond->field, MT_LITERAL_PREFIX, op->value.text, op->value.len);
		else if (op->kind == MT_OP_REGEX)
		{
			size_t		prefix_len = regex_literal_prefix(op);

			if (prefix_len > 0)
				cb(arg, cond->field, MT_LITERAL_PREFIX, op->value.text + 1, prefix_len);
		}
	}
}

/* Calls cb for each top-level (undotted) string equality or prefix every match must satisfy. */
void
mt_condition_literals(const MtCondition *cond, MtLiteralCallback cb, void *arg)
{
	if (cond != NULL && cb != NULL)
		collect_literals(cond, cb, arg);
}

/* A set of strings (the values a field is required to hold). */
typedef struct MtStringSet
{
	int			count;
	int			capacity;
	char	  **items;
	size_t	   *lens;
} MtStringSet;

/* Appends a string to a set (duplicates are removed by string_set_unique). */
static void
string_set_push(MtStringSet *set, const char *s, size_t len)
{
	if (set->count == set->capacity)
	{
		set->capacity = set->capacity ? set->capacity * 2 : 8;
		set->items = mt_realloc(set->items, sizeof(char *) * (size_t) set->capacity);
		set->lens = mt_realloc(set->lens, sizeof(size_t) * (size_t) set->capacity);
	}
	set->items[set->count] = mt_strndup(s, len);
	set->lens[set->count] = len;
	set->count++;
}

/* A set entry's position, for sorting positions by the strings they hold. */
typedef struct SetSlot
{
	const MtStringSet *set;
	int			position;
} SetSlot;

/* qsort comparator: by string, then by position (so the first occurrence comes first). */
static int
compare_set_slots(const void *a, const void *b)
{
	const SetSlot *x = a;
	const SetSlot *y = b;
	int			c = compare_bytes(x->set->items[x->position], x->set->lens[x->position],
								  y->set->items[y->position], y->set->lens[y->position]);

	return c != 0 ? c : (x->position > y->position) - (x->position < y->position);
}

/*
 * Removes duplicate strings, keeping each first occurrence in place: O(n log n), so that a
 * 100,000-value $in on event_type is not compared pair by pair.
 */
static void
string_set_unique(MtStringSet *set)
{
	SetSlot    *slots;
	bool	   *drop;
	int			kept = 0;

	if (set->count < 2)
		return;
	slots = mt_alloc(sizeof(SetSlot) * (size_t) set->count);
	drop = mt_alloc(sizeof(bool) * (size_t) set->count);
	for (int i = 0; i < set->count; i++)
	{
		slots[i].set = set;
		slots[i].position = i;
	}
	qsort(slots, (size_t) set->count, sizeof(SetSlot), compare_set_slots);
	for (int i = 1; i < set->count; i++)
		if (compare_bytes(set->items[slots[i - 1].position], set->lens[slots[i - 1].position],
						  set->items[slots[i].position], set->lens[slots[i].position]) == 0)
			drop[slots[i].position] = true;
	for (int i = 0; i < set->count; i++)
	{
		if (drop[i])
		{
			mt_free(set->items[i]);
			continue;
		}
		set->items[kept] = set->items[i];
		set->lens[kept] = set->lens[i];
		kept++;
	}
	set->count = kept;
	mt_free(slots);
	mt_free(drop);
}

/* Releases a set's strings and arrays. */
static void
string_set_free(MtStringSet *set)
{
	for (int i = 0; i < set->count; i++)
		mt_free(set->items[i]);
	mt_free(set->items);
	mt_free(set->lens);
	memset(set, 0, sizeof(*set));
}

/*
 * The strings one of which `field` must hold for the condition to match: true and *set filled
 * when the node constrains it so; false when it does not (or not in a way we can tell).
 */
static bool
required_values(const MtCondition *cond, const char *field, MtStringSet *set)
{
	memset(set, 0, sizeof(*set));
	switch (cond->kind)
	{
		case MT_NODE_AND:
			{
				/* any constrained child is a valid answer: keep the smallest */
				bool		found = false;

				for (int i = 0; i < cond->nchildren; i++)
				{
					MtStringSet child;

					if (!required_values(cond->children[i], field, &child))
						continue;
					if (!found || child.count < set->count)
					{
						string_set_free(set);
						*set = child;
						found = true;
					}
					else
						string_set_free(&child);
				}
				return found;
			}
		case MT_NODE_OR:
			/* every branch must constrain the field: the union */
			for (int i = 0; i < cond->nchildren; i++)
			{
				MtStringSet child;

				if (!required_values(cond->children[i], field, &child))
				{
					string_set_free(set);
					return false;
				}
				for (int j = 0; j < child.count; j++)
					string_set_push(set, child.items[j], child.lens[j]);
				string_set_free(&child);
			}
			string_set_unique(set);
			return true;
		case MT_NODE_NOR:
			return false;
		case MT_NODE_FIELD:
			if (cond->nsteps != 1 || strcmp(cond->field, field) != 0)
				return false;
			for (int i = 0; i < cond->nops; i++)
			{
				const MtOp *op = &cond->ops[i];
				bool		all_strings = op->nvalues > 0;

				if (op->kind == MT_OP_EQ && op->value.kind == MT_VALUE_STRING)
				{
					string_set_free(set);
					string_set_push(set, op->value.text, op->value.len);
					return true;
				}
				if (op->kind != MT_OP_IN)
					continue;
				for (int j = 0; j < op->nvalues; j++)
					if (op->values[j].kind != MT_VALUE_STRING)
						all_strings = false;
				if (!all_strings)
					continue;
				string_set_free(set);
				for (int j = 0; j < op->nvalues; j++)
					string_set_push(set, op->values[j].text, op->values[j].len);
				string_set_unique(set);
				return true;
			}
			return false;
	}
	return false;
}

/* The string values a condition requires of a top-level field; 0 when unconstrained. */
int
mt_condition_required_values(const MtCondition *cond, const char *field, char ***values)
{
	MtStringSet set;

	*values = NULL;
	if (cond == NULL || field == NULL || !required_values(cond, field, &set))
		return 0;
	if (set.count == 0)
	{
		string_set_free(&set);
		return 0;
	}
	mt_free(set.lens);
	*values = set.items;
	return set.count;
}
