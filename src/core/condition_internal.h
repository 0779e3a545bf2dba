/*
 * condition_internal.h: the compiled condition tree, shared by condition.c (the compiler, no
 * PostgreSQL) and condition_eval.c (evaluation against jsonb). Not for other files.
 *
 * A condition is a node: a logical node ($and / $or / $nor, or the implicit AND of the keys of a
 * condition object) over child nodes, or a field node: a dotted path and the operators applied to
 * it (implicitly ANDed, each over the whole path, as MongoDB does).
 */
#ifndef MT_CONDITION_INTERNAL_H
#define MT_CONDITION_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "condition.h"

/* A JSON literal of the condition (operand of $eq, $in, ...). */
typedef enum MtValueKind
{
	MT_VALUE_NULL,
	MT_VALUE_BOOL,
	MT_VALUE_NUMBER,
	MT_VALUE_STRING,
	MT_VALUE_ARRAY,
	MT_VALUE_OBJECT
} MtValueKind;

typedef struct MtValue
{
	MtValueKind kind;
	bool		boolean;		/* MT_VALUE_BOOL */
	double		number;			/* MT_VALUE_NUMBER, approximate (the text is exact) */
	char	   *text;			/* string bytes (STRING) or number text (NUMBER), NUL-terminated */
	size_t		len;			/* length of text */
	int			count;			/* ARRAY elements / OBJECT members */
	struct MtValue *items;		/* ARRAY elements, OBJECT member values */
	char	  **keys;			/* OBJECT member keys (NUL-terminated) */
	size_t	   *key_lens;
	void	   *numeric;		/* evaluator's cache: the number as a PostgreSQL Numeric */
} MtValue;

/* One step of a dotted path; digits-only steps may also index arrays. */
typedef struct MtPathStep
{
	char	   *name;
	int			len;
	bool		is_index;
	int			index;
} MtPathStep;

typedef enum MtOpKind
{
	MT_OP_EQ,
	MT_OP_NE,
	MT_OP_GT,
	MT_OP_GTE,
	MT_OP_LT,
	MT_OP_LTE,
	MT_OP_IN,
	MT_OP_NIN,
	MT_OP_EXISTS,
	MT_OP_REGEX,
	MT_OP_NOT,
	MT_OP_ALL,
	MT_OP_SIZE,
	MT_OP_ELEM_MATCH,
	MT_OP_STARTS_WITH,
	MT_OP_ENDS_WITH,
	MT_OP_CONTAINS
} MtOpKind;

/*
 * A sorted index over the values of a long $in / $nin list (MT_IN_INDEX_MIN values or more), so
 * that one candidate is looked up in O(log n) instead of compared with every value. Equality
 * stays MongoDB's: strings by bytes, numbers by value (through a canonical key: 1, 1.0 and 1e0
 * share one), booleans and null by kind; arrays and objects in the list are few and are still
 * compared one by one.
 */
#define MT_IN_INDEX_MIN 16

/* One indexed byte string, with its first 8 bytes (big-endian, zero-padded) to compare first. */
typedef struct MtInKey
{
	uint64_t	prefix;
	const char *bytes;
	size_t		len;
} MtInKey;

typedef struct MtInIndex
{
	MtInKey    *strings;		/* the string values (bytes owned by the op), sorted */
	int			nstrings;
	MtInKey    *numbers;		/* canonical keys of the number values (mt_number_key; owned), sorted */
	int			nnumbers;
	const struct MtValue **composites;	/* array and object values, in list order */
	int			ncomposites;
	bool		has_null;
	bool		has_true;
	bool		has_false;
} MtInIndex;

/* Longest canonical number key (MT_NUMBER_TEXT_MAX digits, sign, exponent). */
#define MT_NUMBER_KEY_MAX 4032

/*
 * The canonical key of a decimal number text (JSON syntax, or PostgreSQL numeric_out's): equal
 * numbers get equal keys whatever their spelling ("1", "1.0", "1e0", "-0" = "0"). Writes at most
 * outsize bytes; returns the key's length, or 0 when text is not a number or the key does not fit.
 */
extern size_t mt_number_key(const char *text, size_t len, char *out, size_t outsize);

/* Is a string / number key in the index? (binary search) */
extern bool mt_in_index_has_string(const MtInIndex *index, const char *s, size_t len);
extern bool mt_in_index_has_number_key(const MtInIndex *index, const char *key, size_t len);

/*
 * What a $regex pattern uses that makes PostgreSQL's engine super-linear: back-references
 * (backtracking) and lookahead constraints (a fresh scan from every probe point). Lookbehind is
 * evaluated incrementally by the engine and is linear. A textual scan that honours escapes,
 * bracket expressions, (?#comments), x-mode comments, the ***= and (?q) literal forms.
 */
typedef struct MtRegexFeatures
{
	int			backrefs;		/* \1 .. \9 */
	int			lookaheads;		/* (?= (?! */
	int			lookbehinds;	/* (?<= (?<! */
} MtRegexFeatures;

extern void mt_regex_scan(const char *pattern, size_t len, int flags, MtRegexFeatures *out);

/* Why such a pattern is refused (the compiler and the PostgreSQL-side check say the same). */
#define MT_REGEX_BACKREF_MESSAGE \
	"$regex may not use back-references (\\1 to \\9): matching them can take exponential time"
#define MT_REGEX_LOOKAHEAD_MESSAGE \
	"$regex may not use lookahead ((?= or (?!): matching it takes time quadratic in the input; " \
	"combine patterns with $and, $not or $nor instead"

/* Regex flags as written in $options. */
#define MT_REGEX_ICASE		0x01	/* i */
#define MT_REGEX_MULTILINE	0x02	/* m: ^ and $ at line breaks */
#define MT_REGEX_DOTALL		0x04	/* s: . matches a newline */
#define MT_REGEX_EXTENDED	0x08	/* x: white space and # comments ignored */

typedef struct MtOp
{
	MtOpKind	kind;
	MtValue		value;			/* EQ NE GT.. (operand), REGEX STARTS_WITH.. (string) */
	MtValue    *values;			/* IN NIN */
	int			nvalues;
	MtInIndex  *in_index;		/* IN NIN with MT_IN_INDEX_MIN values or more; else NULL */
	bool		exists;			/* EXISTS */
	int64_t		size;			/* SIZE */
	struct MtOp *ops;			/* NOT (ANDed operators), ALL (EQ / ELEM_MATCH entries),
								 * ELEM_MATCH in value form (ANDed operators) */
	int			nops;
	MtCondition *sub;			/* ELEM_MATCH in object form */
	int			regex_flags;	/* REGEX */
	char	   *path;			/* REGEX: JSON path of the operand, for messages */
	void	   *compiled;		/* evaluator's cache: the compiled regex */
} MtOp;

typedef enum MtNodeKind
{
	MT_NODE_AND,
	MT_NODE_OR,
	MT_NODE_NOR,
	MT_NODE_FIELD
} MtNodeKind;

struct MtCondition
{
	MtNodeKind	kind;
	struct MtCondition **children;	/* AND OR NOR */
	int			nchildren;
	char	   *field;			/* FIELD: the dotted path as written */
	MtPathStep *steps;			/* FIELD */
	int			nsteps;
	MtOp	   *ops;			/* FIELD */
	int			nops;
};

#endif
