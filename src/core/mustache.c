/*
 * mustache.c: the Mustache engine core (see mustache.h). No PostgreSQL here.
 *
 * Compiling runs in three passes over the template:
 *   1. tokenize: text and tags, following set-delimiter tags as they come;
 *   2. standalone: decide which tags stand alone on their line and trim the whitespace and line
 *      end around them (with the inheritance module's rules for parent and block tags);
 *   3. build the tree, checking that sections close in order, and re-indent block content.
 * All nodes and strings of a template live in one arena, released at once by mtm_free.
 *
 * Bounds (see mustache.h): a text over MTM_MAX_TEMPLATE_SIZE is refused before pass 1, and pass 3
 * refuses nesting deeper than MTM_MAX_NESTING, so the compiled tree (and every recursive walk of
 * it, here and in the renderer) is at most that deep. Passes 1 and 2 do not recurse.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "mtalloc.h"
#include "mustache.h"

/* ------------------------------------------------------------------------------------------ */
/* The compiled tree                                                                          */
/* ------------------------------------------------------------------------------------------ */

typedef enum NodeKind
{
	NODE_TEXT,
	NODE_VAR,					/* {{x}}, {{{x}}}, {{&x}} */
	NODE_SECTION,				/* {{#x}} */
	NODE_INVERTED,				/* {{^x}} */
	NODE_PARTIAL,				/* {{>x}} */
	NODE_PARENT,				/* {{<x}} ... {{/x}} */
	NODE_BLOCK					/* {{$x}} ... {{/x}} */
} NodeKind;

/* A name split at its dots once, so rendering does no parsing ("." has no parts). */
typedef struct Name
{
	const char *full;			/* NUL-terminated */
	size_t		full_len;
	int			nparts;
	const char **parts;			/* each NUL-terminated */
	size_t	   *lens;
} Name;

typedef struct Node
{
	NodeKind	kind;
	bool		escape;			/* VAR: {{x}} (true) or {{{x}}} / {{&x}} */
	bool		standalone;		/* PARTIAL, PARENT, BLOCK site: the tag had its line to itself */
	bool		open_standalone;	/* SECTION, INVERTED, BLOCK: open tag's line was removed */
	bool		close_standalone;	/* ... and the close tag's */
	bool		in_parent;		/* BLOCK: an argument passed to a parent (else a site) */
	bool		outdented;		/* BLOCK: its content was re-based to column 0 at compile */
	const char *text;			/* TEXT: the literal text */
	size_t		len;
	const char *indent;			/* PARTIAL/PARENT/site: indentation applied to each line */
	size_t		indent_len;
	const char *tag_indent;		/* whitespace before a standalone tag on its line */
	size_t		tag_indent_len;
	Name		name;
	size_t		offset;			/* of the tag in the source, for messages */
	struct Node *first;			/* children */
	struct Node *next;			/* next sibling */
} Node;

typedef struct ArenaChunk
{
	struct ArenaChunk *next;
	size_t		used;
	size_t		size;
	char		data[];
} ArenaChunk;

struct MtmTemplate
{
	ArenaChunk *arena;
	const char *source;			/* a copy of the text, in the arena */
	size_t		source_len;
	Node	   *root;			/* a SECTION-like container; only its children matter */
	int			conditionals;	/* {{#}} and {{^}} tags */
	int			nesting;		/* deepest nesting of sections, parents and blocks */
};

/* Allocates size bytes (8-aligned, zeroed) from the template's arena. */
static void *
arena_alloc(MtmTemplate *t, size_t size)
{
	ArenaChunk *chunk = t->arena;

	size = (size + 7) & ~(size_t) 7;
	if (chunk == NULL || chunk->size - chunk->used < size)
	{
		size_t		chunk_size = size > 8192 ? size : 8192;

		chunk = mt_alloc(sizeof(ArenaChunk) + chunk_size);
		chunk->size = chunk_size;
		chunk->next = t->arena;
		t->arena = chunk;
	}
	chunk->used += size;
	return memset(chunk->data + chunk->used - size, 0, size);
}

/* Copies len bytes into the arena, NUL-terminated. */
static char *
arena_strndup(MtmTemplate *t, const char *s, size_t len)
{
	char	   *copy = arena_alloc(t, len + 1);

	memcpy(copy, s, len);
	copy[len] = '\0';
	return copy;
}

/* ------------------------------------------------------------------------------------------ */
/* Errors                                                                                     */
/* ------------------------------------------------------------------------------------------ */

/* Records the first error with its position and (optional) place. */
void
mtm_error_set_where(MtmError *err, const char *where, int line, int column, const char *fmt,...)
{
	va_list		ap;

	if (err == NULL || err->failed)
		return;
	err->failed = true;
	err->line = line;
	err->column = column;
	snprintf(err->where, sizeof(err->where), "%s", where ? where : "");
	va_start(ap, fmt);
	vsnprintf(err->message, sizeof(err->message), fmt, ap);
	va_end(ap);
}

/* Formats an error for people: [where ]at line L, column C: reason. */
void
mtm_error_format(const MtmError *err, char *buf, size_t size)
{
	const char *sep = err->where[0] ? " " : "";

	if (err->line > 0)
		snprintf(buf, size, "%s%sat line %d, column %d: %s", err->where, sep,
				 err->line, err->column, err->message);
	else if (err->where[0])
		snprintf(buf, size, "%s: %s", err->where, err->message);
	else
		snprintf(buf, size, "%s", err->message);
}

static void syntax_error(MtmError *err, const char *src, size_t offset, const char *fmt,...)
			__attribute__((format(printf, 4, 5)));

/* Sets a syntax error at a source offset, turned into line and column (in UTF-8 characters). */
static void
syntax_error(MtmError *err, const char *src, size_t offset, const char *fmt,...)
{
	va_list		ap;
	int			line = 1,
				column = 1;
	char		message[sizeof(err->message)];

	for (size_t i = 0; i < offset; i++)
	{
		if (src[i] == '\n')
		{
			line++;
			column = 1;
		}
		else if (((unsigned char) src[i] & 0xC0) != 0x80)
			column++;
	}
	va_start(ap, fmt);
	vsnprintf(message, sizeof(message), fmt, ap);
	va_end(ap);
	mtm_error_set_where(err, NULL, line, column, "%s", message);
}

/* Quotes at most 60 bytes of a name for a message, so a huge tag keeps the message short. */
static int
quoted_len(size_t len)
{
	return len > 60 ? 60 : (int) len;
}

/* ------------------------------------------------------------------------------------------ */
/* Pass 1: tokens                                                                             */
/* ------------------------------------------------------------------------------------------ */

typedef struct Token
{
	char		sigil;			/* 0 = text; 'v' {{x}}; '&' {{&x}} / {{{x}}}; # ^ / ! > < $ = */
	size_t		start;			/* source span of the whole token */
	size_t		end;
	size_t		name_start;		/* tags: the trimmed name */
	size_t		name_end;
	size_t		keep_start;		/* text: the part kept after standalone trimming */
	size_t		keep_end;
	bool		standalone;		/* tags: decided in pass 2 */
	bool		left_clear;		/* tags: only whitespace before it on its line */
	size_t		ws_start;		/* tags: that whitespace (when left_clear) */
	size_t		ws_end;
	bool		block_in_parent;	/* '$' and its '/': directly inside a parent's body */
	bool		pair_standalone;	/* '<' and its '/': the pair stands alone */
	bool		site_lead;		/* '$' site: left clear, not standalone (indent later lines) */
} Token;

typedef struct Tokens
{
	Token	   *items;
	size_t		count;
	size_t		cap;
} Tokens;

/* Appends a zeroed token and returns it. */
static Token *
token_push(Tokens *tokens)
{
	if (tokens->count == tokens->cap)
	{
		tokens->cap = tokens->cap ? tokens->cap * 2 : 64;
		tokens->items = mt_realloc(tokens->items, tokens->cap * sizeof(Token));
	}
	memset(&tokens->items[tokens->count], 0, sizeof(Token));
	return &tokens->items[tokens->count++];
}

/* Finds needle in src[from, len); returns its offset or (size_t) -1. */
static size_t
find(const char *src, size_t len, size_t from, const char *needle, size_t nlen)
{
	if (nlen == 0 || len < nlen)
		return (size_t) -1;
	for (size_t i = from; i + nlen <= len; i++)
	{
		const char *hit = memchr(src + i, needle[0], len - nlen + 1 - i);

		if (hit == NULL)
			return (size_t) -1;
		i = hit - src;
		if (memcmp(hit, needle, nlen) == 0)
			return i;
	}
	return (size_t) -1;
}

/* True for the whitespace allowed around names and in indentation. */
static inline bool
is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* Parses the content of {{=open close=}} into the two new delimiters. */
static bool
parse_delimiters(const char *src, size_t start, size_t end, char *open, size_t *open_len,
				 char *close, size_t *close_len)
{
	size_t		a,
				b;

	while (start < end && is_space(src[start]))
		start++;
	while (end > start && is_space(src[end - 1]))
		end--;
	for (a = start; a < end && !is_space(src[a]); a++)
		;
	for (b = a; b < end && is_space(src[b]); b++)
		;
	if (a == start || b == end || a - start > 15 || end - b > 15)
		return false;
	for (size_t i = b; i < end; i++)
		if (is_space(src[i]))
			return false;
	for (size_t i = start; i < end; i++)
		if (src[i] == '=')
			return false;
	memcpy(open, src + start, a - start);
	*open_len = a - start;
	memcpy(close, src + b, end - b);
	*close_len = end - b;
	return true;
}

/* Splits the source into text and tag tokens, following delimiter changes. */
static bool
tokenize(const char *src, size_t len, Tokens *tokens, MtmError *err)
{
	char		open[16] = "{{",
				close[16] = "}}";
	size_t		open_len = 2,
				close_len = 2;
	size_t		pos = 0;

	while (pos < len)
	{
		size_t		tag = find(src, len, pos, open, open_len);
		size_t		content,
					content_end,
					after;
		char		sigil = 'v';
		Token	   *tok;

		if (tag == (size_t) -1)
			tag = len;
		if (tag > pos)
		{
			tok = token_push(tokens);
			tok->start = tok->keep_start = pos;
			tok->end = tok->keep_end = tag;
		}
		if (tag == len)
			break;

		content = tag + open_len;
		if (content < len && src[content] == '{')
		{
			/* {{{x}}}: the name ends at "}" followed by the closing delimiter */
			char		triple_close[17];

			triple_close[0] = '}';
			memcpy(triple_close + 1, close, close_len);
			sigil = '&';
			content++;
			content_end = find(src, len, content, triple_close, close_len + 1);
			after = content_end + close_len + 1;
		}
		else if (content < len && src[content] == '=')
		{
			char		eq_close[17];

			eq_close[0] = '=';
			memcpy(eq_close + 1, close, close_len);
			sigil = '=';
			content++;
			content_end = find(src, len, content, eq_close, close_len + 1);
			after = content_end + close_len + 1;
		}
		else
		{
			if (content < len && strchr("#^/!><&$", src[content]) != NULL && src[content] != '\0')
				sigil = src[content++];
			content_end = find(src, len, content, close, close_len);
			after = content_end + close_len;
		}
		if (content_end == (size_t) -1)
		{
			syntax_error(err, src, tag, "unclosed tag (no \"%.*s\" after \"%.*s\")",
						 (int) close_len, close, (int) open_len, open);
			return false;
		}

		tok = token_push(tokens);
		tok->sigil = sigil;
		tok->start = tag;
		tok->end = after;
		tok->name_start = content;
		tok->name_end = content_end;
		while (tok->name_start < tok->name_end && is_space(src[tok->name_start]))
			tok->name_start++;
		while (tok->name_end > tok->name_start && is_space(src[tok->name_end - 1]))
			tok->name_end--;

		if (sigil == '=')
		{
			if (!parse_delimiters(src, content, content_end, open, &open_len, close, &close_len))
			{
				syntax_error(err, src, tag, "bad delimiter change \"%.*s\" (expected two delimiters separated by a space, e.g. {{=<%% %%>=}})",
							 quoted_len(after - tag), src + tag);
				return false;
			}
		}
		else if (sigil != '!')
		{
			size_t		n = tok->name_end - tok->name_start;

			if (n == 0)
			{
				syntax_error(err, src, tag, "empty tag name");
				return false;
			}
			for (size_t i = tok->name_start; i < tok->name_end; i++)
				if (is_space(src[i]))
				{
					syntax_error(err, src, tag, "invalid tag name \"%.*s\" (names have no spaces)",
								 quoted_len(n), src + tok->name_start);
					return false;
				}
		}
		pos = after;
	}
	return true;
}

/* ------------------------------------------------------------------------------------------ */
/* Pass 2: standalone tags                                                                    */
/* ------------------------------------------------------------------------------------------ */

/* True when only spaces and tabs precede token i on its line; sets its whitespace span. */
static bool
left_clear(const char *src, Tokens *tokens, size_t i)
{
	Token	   *tok = &tokens->items[i];
	Token	   *prev;
	size_t		line_start;

	if (i == 0)
	{
		tok->ws_start = tok->ws_end = tok->start;
		return true;
	}
	prev = &tokens->items[i - 1];
	if (prev->sigil != 0)
		return false;
	line_start = prev->end;
	while (line_start > prev->start && src[line_start - 1] != '\n')
		line_start--;
	if (line_start == prev->start && i - 1 != 0)
		return false;			/* no line end in the text: a tag precedes on this line */
	for (size_t k = line_start; k < prev->end; k++)
		if (src[k] != ' ' && src[k] != '\t')
			return false;
	tok->ws_start = line_start;
	tok->ws_end = prev->end;
	return true;
}

/* True when only spaces and tabs follow token i up to a line end (or the end of the template). */
static bool
right_clear(const char *src, Tokens *tokens, size_t i)
{
	Token	   *next;

	if (i + 1 == tokens->count)
		return true;
	next = &tokens->items[i + 1];
	if (next->sigil != 0)
		return false;
	for (size_t k = next->start; k < next->end; k++)
	{
		if (src[k] == '\n')
			return true;
		if (src[k] == '\r' && k + 1 < next->end && src[k + 1] == '\n')
			return true;
		if (src[k] != ' ' && src[k] != '\t')
			return false;
	}
	return i + 2 == tokens->count;	/* only whitespace up to the end of the template */
}

/* Removes the whitespace before token i on its line from the preceding text. */
static void
trim_before(const char *src, Tokens *tokens, size_t i)
{
	Token	   *prev;

	if (i == 0 || tokens->items[i - 1].sigil != 0)
		return;
	prev = &tokens->items[i - 1];
	while (prev->keep_end > prev->keep_start && src[prev->keep_end - 1] != '\n')
		prev->keep_end--;
}

/* Removes the whitespace after token i, through its line end, from the following text. */
static void
trim_after(const char *src, Tokens *tokens, size_t i)
{
	Token	   *next;

	if (i + 1 >= tokens->count || tokens->items[i + 1].sigil != 0)
		return;
	next = &tokens->items[i + 1];
	while (next->keep_start < next->keep_end)
	{
		char		c = src[next->keep_start++];

		if (c == '\n')
			break;
	}
}

/*
 * Decides which tags are standalone and trims around them. Ordinary tags (sections, inverted,
 * comments, partials, delimiters, blocks outside parents) stand alone when only whitespace
 * surrounds them on their line. Inside a parent's body, where text outside blocks is ignored, a
 * block's opening tag only needs to clear on the right and its closing tag on the left. A parent
 * tag pair stands alone when its opening tag clears on the left and its closing tag on the right.
 */
static void
decide_standalone(const char *src, Tokens *tokens)
{
	size_t		stack_cap = 16,
				depth = 0;
	size_t	   *stack = mt_alloc(stack_cap * sizeof(size_t));

	for (size_t i = 0; i < tokens->count; i++)
	{
		Token	   *tok = &tokens->items[i];
		Token	   *container = depth > 0 ? &tokens->items[stack[depth - 1]] : NULL;
		bool		in_parent = container != NULL && container->sigil == '<';
		bool		left,
					right;

		if (tok->sigil == 0 || tok->sigil == 'v' || tok->sigil == '&')
			continue;
		left = tok->left_clear = left_clear(src, tokens, i);
		right = right_clear(src, tokens, i);

		if (tok->sigil == '<')
		{
			/* decided at its closing tag */
		}
		else if (tok->sigil == '/' && container != NULL && container->sigil == '<')
		{
			if (container->left_clear && right)
			{
				container->pair_standalone = tok->pair_standalone = true;
				trim_before(src, tokens, stack[depth - 1]);
				trim_after(src, tokens, i);
			}
		}
		else if (tok->sigil == '$' && in_parent)
		{
			tok->block_in_parent = true;
			if (right)
			{
				tok->standalone = true;
				trim_after(src, tokens, i);
			}
		}
		else if (tok->sigil == '/' && container != NULL && container->block_in_parent)
		{
			tok->block_in_parent = true;
			if (left)
			{
				tok->standalone = true;
				trim_before(src, tokens, i);
			}
		}
		else if (left && right)
		{
			tok->standalone = true;
			trim_before(src, tokens, i);
			trim_after(src, tokens, i);
		}
		else if (tok->sigil == '$' && left)
			tok->site_lead = true;

		if (strchr("#^<$", tok->sigil))
		{
			if (depth == stack_cap)
			{
				stack_cap *= 2;
				stack = mt_realloc(stack, stack_cap * sizeof(size_t));
			}
			stack[depth++] = i;
		}
		else if (tok->sigil == '/' && depth > 0)
			depth--;			/* mismatches are reported in pass 3 */
	}
	mt_free(stack);
}

/* Can this tag share a standalone line with others? (no output of its own, not inheritance) */
static bool
line_tag_kind(char sigil)
{
	return sigil != 0 && strchr("#^/!>=", sigil) != NULL;
}

/* Is the text token only spaces and tabs (no line end)? */
static bool
text_is_blank(const char *src, const Token *tok)
{
	for (size_t k = tok->start; k < tok->end; k++)
		if (src[k] != ' ' && src[k] != '\t')
			return false;
	return true;
}

/*
 * Lines of several tags, as mustache.js reads them (the spec rules only on a line of one tag):
 * a line holding only section, inverted, closing, comment, partial or delimiter tags and
 * whitespace is standalone as a whole, so `{{/items}}{{#footer}}` on its own line leaves no empty
 * line. Lines with a value tag, text, or an inheritance tag, and lines inside a parent's body,
 * keep the spec's rules. As in mustache.js, a partial there is indented by the line's whitespace
 * only when it is the line's first tag.
 */
static void
decide_standalone_lines(const char *src, Tokens *tokens)
{
	size_t		parents = 0;	/* open parent tags around the current token */
	size_t		stack_cap = 16,
				depth = 0;
	char	   *stack = mt_alloc(stack_cap);

	for (size_t i = 0; i < tokens->count; i++)
	{
		Token	   *first = &tokens->items[i];
		size_t		last = i,
					n_tags = 1;

		if (line_tag_kind(first->sigil) && parents == 0 && !first->standalone &&
			left_clear(src, tokens, i))
		{
			for (size_t j = i + 1; j < tokens->count; j++)
			{
				Token	   *tok = &tokens->items[j];

				if (tok->sigil == 0 && text_is_blank(src, tok) && j + 1 < tokens->count)
					continue;
				if (!line_tag_kind(tok->sigil))
					break;
				last = j;
				n_tags++;
			}
			if (n_tags >= 2 && right_clear(src, tokens, last))
			{
				size_t		ws_start = first->ws_start,
							ws_end = first->ws_end;

				for (size_t j = i; j <= last; j++)
				{
					Token	   *tok = &tokens->items[j];

					if (tok->sigil == 0)
						tok->keep_start = tok->keep_end;	/* the blanks between the tags */
					else
					{
						/* the first tag has the line's indentation; the others none (mustache.js) */
						tok->standalone = tok->left_clear = true;
						tok->ws_start = j == i ? ws_start : tok->start;
						tok->ws_end = j == i ? ws_end : tok->start;
					}
				}
				trim_before(src, tokens, i);
				trim_after(src, tokens, last);
			}
		}
		/* keep count of the parents around the next token */
		if (first->sigil != 0 && strchr("#^<$", first->sigil))
		{
			if (depth == stack_cap)
			{
				stack_cap *= 2;
				stack = mt_realloc(stack, stack_cap);
			}
			stack[depth++] = first->sigil;
			if (first->sigil == '<')
				parents++;
		}
		else if (first->sigil == '/' && depth > 0 && stack[--depth] == '<')
			parents--;
	}
	mt_free(stack);
}

/* ------------------------------------------------------------------------------------------ */
/* Pass 3: the tree                                                                           */
/* ------------------------------------------------------------------------------------------ */

/* Splits a tag name at its dots into the node; "a..b", ".a" and "a." are errors. */
static bool
set_name(MtmTemplate *t, Node *node, const char *src, const Token *tok, MtmError *err)
{
	const char *name = src + tok->name_start;
	size_t		len = tok->name_end - tok->name_start;
	int			nparts = 1;
	size_t		part_start = 0;
	int			k = 0;

	node->name.full = arena_strndup(t, name, len);
	node->name.full_len = len;
	if (len == 1 && name[0] == '.')
		return true;			/* the implicit iterator: no parts */
	for (size_t i = 0; i < len; i++)
		if (name[i] == '.')
			nparts++;
	node->name.nparts = nparts;
	node->name.parts = arena_alloc(t, nparts * sizeof(char *));
	node->name.lens = arena_alloc(t, nparts * sizeof(size_t));
	for (size_t i = 0; i <= len; i++)
	{
		if (i < len && name[i] != '.')
			continue;
		if (i == part_start)
		{
			syntax_error(err, src, tok->start, "invalid name \"%.*s\" (empty part between dots)",
						 quoted_len(len), name);
			return false;
		}
		node->name.parts[k] = arena_strndup(t, name + part_start, i - part_start);
		node->name.lens[k++] = i - part_start;
		part_start = i + 1;
	}
	return true;
}

/* Where the outdent/intrinsic-indent walks are on their line. */
typedef struct LineState
{
	bool		at_line_start;
} LineState;

/*
 * The intrinsic indentation of block content: the leading whitespace of its first non-empty line
 * (or of the first standalone tag there). Returns false when the content has no such line.
 */
static bool
first_line_indent(const Node *node, LineState *ls, const char **indent, size_t *len)
{
	for (; node != NULL; node = node->next)
	{
		switch (node->kind)
		{
			case NODE_TEXT:
				{
					size_t		pos = 0;

					while (pos < node->len)
					{
						if (ls->at_line_start)
						{
							size_t		j = pos;

							while (j < node->len && (node->text[j] == ' ' || node->text[j] == '\t'))
								j++;
							if (j == node->len)
							{
								if (node->next == NULL || node->next->kind == NODE_TEXT)
									return false;
								*indent = node->text + pos;
								*len = j - pos;
								return true;
							}
							if (node->text[j] == '\n' ||
								(node->text[j] == '\r' && j + 1 < node->len && node->text[j + 1] == '\n'))
							{
								pos = (node->text[j] == '\n' ? j : j + 1) + 1;
								continue;
							}
							*indent = node->text + pos;
							*len = j - pos;
							return true;
						}
						else
						{
							const char *nl = memchr(node->text + pos, '\n', node->len - pos);

							if (nl == NULL)
								break;
							pos = nl - node->text + 1;
							ls->at_line_start = true;
						}
					}
					if (node->len > 0 && node->text[node->len - 1] != '\n')
						ls->at_line_start = false;
					break;
				}
			case NODE_PARTIAL:
			case NODE_PARENT:
			case NODE_BLOCK:
			case NODE_SECTION:
			case NODE_INVERTED:
				if (ls->at_line_start && node->tag_indent != NULL)
				{
					*indent = node->tag_indent;
					*len = node->tag_indent_len;
					return true;
				}
				if (ls->at_line_start)
				{
					*indent = "";
					*len = 0;
					return true;
				}
				return false;	/* content starts mid-line: nothing to find further on */
			case NODE_VAR:
				if (ls->at_line_start)
				{
					*indent = "";
					*len = 0;
					return true;
				}
				break;
		}
	}
	return false;
}

/* Length of the longest common prefix of s (up to slen) and prefix. */
static size_t
matching_prefix(const char *s, size_t slen, const char *prefix, size_t plen)
{
	size_t		k = 0;

	while (k < slen && k < plen && s[k] == prefix[k] && (s[k] == ' ' || s[k] == '\t'))
		k++;
	return k;
}

/*
 * Removes `prefix` from the start of every line of the content (text at line starts, and the
 * indentation of standalone tags), so the content is based at column 0. Content of nested blocks
 * that were themselves re-based is left alone; only their indentation moves.
 */
static void
outdent(MtmTemplate *t, Node *node, const char *prefix, size_t plen, LineState *ls)
{
	for (; node != NULL; node = node->next)
	{
		switch (node->kind)
		{
			case NODE_TEXT:
				{
					char	   *copy = NULL;
					size_t		out = 0;

					for (size_t i = 0; i < node->len;)
					{
						if (ls->at_line_start)
						{
							size_t		k = matching_prefix(node->text + i, node->len - i, prefix, plen);

							if (k > 0 && copy == NULL)
							{
								copy = arena_alloc(t, node->len + 1);
								memcpy(copy, node->text, i);
								out = i;
							}
							i += k;
							ls->at_line_start = false;
							continue;
						}
						if (node->text[i] == '\n')
							ls->at_line_start = true;
						if (copy)
							copy[out++] = node->text[i];
						i++;
					}
					if (copy)
					{
						copy[out] = '\0';
						node->text = copy;
						node->len = out;
					}
					break;
				}
			case NODE_VAR:
				ls->at_line_start = false;
				break;
			case NODE_PARTIAL:
			case NODE_PARENT:
			case NODE_BLOCK:
				if (node->indent != NULL && ls->at_line_start)
				{
					size_t		k = matching_prefix(node->indent, node->indent_len, prefix, plen);

					node->indent += k;
					node->indent_len -= k;
				}
				if (node->kind == NODE_PARTIAL)
				{
					ls->at_line_start = node->standalone;
					break;
				}
				/* FALLTHROUGH */
			case NODE_SECTION:
			case NODE_INVERTED:
				if (node->kind == NODE_PARENT)
					ls->at_line_start = false;	/* only block arguments inside matter */
				else
					ls->at_line_start = node->open_standalone;
				if (!(node->kind == NODE_BLOCK && node->outdented))
					outdent(t, node->first, prefix, plen, ls);
				ls->at_line_start = node->close_standalone || (node->kind == NODE_PARENT && node->standalone);
				break;
		}
	}
}

/* Re-bases a block's content at column 0 and works out the indentation of a standalone site. */
static void
finish_block(MtmTemplate *t, Node *block)
{
	const char *indent = NULL;
	size_t		indent_len = 0;
	LineState	ls = {true};
	bool		found;

	if (!block->open_standalone)
		return;
	found = first_line_indent(block->first, &ls, &indent, &indent_len);
	if (!block->in_parent && block->standalone)
	{
		/* a standalone site indents its content as its default content is indented */
		if (found)
		{
			block->indent = indent;
			block->indent_len = indent_len;
		}
		else
		{
			block->indent = block->tag_indent;
			block->indent_len = block->tag_indent_len;
		}
	}
	if (found && indent_len > 0)
	{
		/* indent may point into a text node that outdent rewrites: keep a copy */
		char	   *prefix = arena_strndup(t, indent, indent_len);

		ls.at_line_start = true;
		outdent(t, block->first, prefix, indent_len, &ls);
		if (!block->in_parent && block->standalone && block->indent == indent)
			block->indent = prefix;
	}
	block->outdented = true;
}

/* Builds the tree from the tokens; checks nesting. */
static bool
build_tree(MtmTemplate *t, const char *src, Tokens *tokens, MtmError *err)
{
	size_t		depth = 0,
				cap = 16;
	Node	  **stack = mt_alloc(cap * sizeof(Node *));
	size_t	   *open_tok = mt_alloc(cap * sizeof(size_t));
	Node	  **tails = mt_alloc(cap * sizeof(Node *));
	Node	   *container = t->root;
	Node	   *tail = NULL;
	bool		ok = true;
	bool		opens;

	for (size_t i = 0; i < tokens->count && ok; i++)
	{
		Token	   *tok = &tokens->items[i];
		Node	   *node;

		if (tok->sigil == '!' || tok->sigil == '=')
			continue;
		if (tok->sigil == 0 && tok->keep_end == tok->keep_start)
			continue;
		if (tok->sigil == '/')
		{
			Node	   *open = depth > 0 ? container : NULL;
			size_t		len = tok->name_end - tok->name_start;

			if (open == NULL)
			{
				syntax_error(err, src, tok->start, "unexpected close \"%.*s\" (no section is open)",
							 quoted_len(len), src + tok->name_start);
				ok = false;
				break;
			}
			if (open->name.full_len != len || memcmp(open->name.full, src + tok->name_start, len) != 0)
			{
				syntax_error(err, src, tok->start, "mismatched close \"%.*s\" (expected \"%.*s\")",
							 quoted_len(len), src + tok->name_start,
							 quoted_len(open->name.full_len), open->name.full);
				ok = false;
				break;
			}
			open->close_standalone = tok->standalone;
			if (open->kind == NODE_BLOCK)
				finish_block(t, open);
			depth--;
			container = depth > 0 ? stack[depth - 1] : t->root;
			tail = tails[depth];
			continue;
		}

		opens = tok->sigil != 0 && strchr("#^<$", tok->sigil) != NULL;
		if (opens && depth >= MTM_MAX_NESTING)
		{
			size_t		len = tok->name_end - tok->name_start;

			syntax_error(err, src, tok->start, "nested deeper than %d levels at \"%.*s\" (sections, inverted sections, parents and blocks count together)",
						 MTM_MAX_NESTING, quoted_len(len), src + tok->name_start);
			ok = false;
			break;
		}

		node = arena_alloc(t, sizeof(Node));
		node->offset = tok->start;
		switch (tok->sigil)
		{
			case 0:
				node->kind = NODE_TEXT;
				node->text = src + tok->keep_start;
				node->len = tok->keep_end - tok->keep_start;
				break;
			case 'v':
			case '&':
				node->kind = NODE_VAR;
				node->escape = tok->sigil == 'v';
				break;
			case '#':
			case '^':
				node->kind = tok->sigil == '#' ? NODE_SECTION : NODE_INVERTED;
				node->open_standalone = tok->standalone;
				t->conditionals++;
				break;
			case '>':
				node->kind = NODE_PARTIAL;
				node->standalone = tok->standalone;
				break;
			case '<':
				node->kind = NODE_PARENT;
				node->standalone = tok->pair_standalone;
				break;
			case '$':
				node->kind = NODE_BLOCK;
				node->in_parent = tok->block_in_parent;
				node->standalone = !tok->block_in_parent && tok->standalone;
				node->open_standalone = tok->standalone;
				if (tok->site_lead && tok->ws_end > tok->ws_start)
				{
					node->indent = src + tok->ws_start;
					node->indent_len = tok->ws_end - tok->ws_start;
				}
				break;
		}
		if (tok->sigil != 0 && tok->left_clear && (tok->standalone || tok->pair_standalone))
		{
			node->tag_indent = src + tok->ws_start;
			node->tag_indent_len = tok->ws_end - tok->ws_start;
			if (node->kind == NODE_PARTIAL || node->kind == NODE_PARENT)
			{
				node->indent = node->tag_indent;
				node->indent_len = node->tag_indent_len;
			}
		}
		if (tok->sigil != 0 && !set_name(t, node, src, tok, err))
		{
			ok = false;
			break;
		}

		if (tail)
			tail->next = node;
		else
			container->first = node;
		tail = node;

		if (opens)
		{
			if (depth == cap)
			{
				cap *= 2;
				stack = mt_realloc(stack, cap * sizeof(Node *));
				open_tok = mt_realloc(open_tok, cap * sizeof(size_t));
				tails = mt_realloc(tails, cap * sizeof(Node *));
			}
			stack[depth] = node;
			open_tok[depth] = i;
			tails[depth] = tail;
			depth++;
			if ((int) depth > t->nesting)
				t->nesting = (int) depth;
			container = node;
			tail = NULL;
		}
	}
	if (ok && depth > 0)
	{
		Node	   *open = stack[depth - 1];
		const char *what = open->kind == NODE_PARENT ? "parent" :
			open->kind == NODE_BLOCK ? "block" : "section";

		syntax_error(err, src, open->offset, "unclosed %s \"%.*s\"", what,
					 quoted_len(open->name.full_len), open->name.full);
		ok = false;
	}
	mt_free(stack);
	mt_free(open_tok);
	mt_free(tails);
	return ok;
}

/* Parses a template into its tree (see the passes at the top of this file). */
MtmTemplate *
mtm_compile(const char *text, size_t len, MtmError *err)
{
	MtmTemplate *t;
	Tokens		tokens = {0};
	const char *src;
	MtmError	local = {0};

	if (err == NULL)
		err = &local;
	if (len > MTM_MAX_TEMPLATE_SIZE)
	{
		/* before copying or tokenizing anything: tokens and nodes take tens of times the text */
		mtm_error_set_where(err, NULL, 0, 0,
							"template of %zu bytes is larger than the limit of %d bytes",
							len, MTM_MAX_TEMPLATE_SIZE);
		err->too_large = true;
		return NULL;
	}
	t = mt_alloc(sizeof(MtmTemplate));
	src = t->source = arena_strndup(t, text, len);
	t->source_len = len;
	t->root = arena_alloc(t, sizeof(Node));
	t->root->kind = NODE_SECTION;
	if (!tokenize(src, len, &tokens, err))
		goto fail;
	decide_standalone(src, &tokens);
	decide_standalone_lines(src, &tokens);
	if (!build_tree(t, src, &tokens, err))
		goto fail;
	mt_free(tokens.items);
	return t;

fail:
	mt_free(tokens.items);
	mtm_free(t);
	return NULL;
}

/* Releases the arena and the template. */
void
mtm_free(MtmTemplate *tmpl)
{
	if (tmpl == NULL)
		return;
	for (ArenaChunk *chunk = tmpl->arena, *next; chunk != NULL; chunk = next)
	{
		next = chunk->next;
		mt_free(chunk);
	}
	mt_free(tmpl);
}

/* Conditional sections, counted while building the tree. */
int
mtm_count_conditionals(const MtmTemplate *tmpl)
{
	return tmpl ? tmpl->conditionals : 0;
}

/* The deepest nesting, measured while building the tree. */
int
mtm_nesting_depth(const MtmTemplate *tmpl)
{
	return tmpl ? tmpl->nesting : 0;
}

/* ------------------------------------------------------------------------------------------ */
/* Rendering                                                                                  */
/* ------------------------------------------------------------------------------------------ */

struct MtmOut
{
	char	   *buf;
	size_t		len;
	size_t		cap;
	size_t		max;
	bool		escape;			/* escape what mtm_out_write gets now */
	bool		overflow;
	bool		probe;			/* truthiness probe: keep the first cap bytes, count all in len */
	struct Render *render;
};

/* The parent calls whose block arguments are in force, outermost first. */
typedef struct Render
{
	const MtmDataOps *ops;
	void	   *data_ctx;
	const MtmRenderOptions *opt;
	MtmOut		out;
	MtmError   *err;
	bool		failed;
	MtmValue   *stack;			/* the context stack, innermost last */
	size_t		depth;
	size_t		stack_cap;
	const Node **parents;		/* parent calls whose block arguments are in force */
	size_t		nparents;
	size_t		parents_cap;
	char	   *indent;			/* the indentation of the current line start */
	size_t		indent_len;
	size_t		indent_cap;
	bool		pending_indent; /* the last template text ended a line */
	int			nesting;		/* partials, parents, blocks in progress */
	uint64_t	steps;
	int			max_depth;
	uint64_t	max_steps;
} Render;

/* Fails the render with a reason (the first error wins). */
static void
render_fail(Render *r, const char *fmt,...) __attribute__((format(printf, 2, 3)));

static void
render_fail(Render *r, const char *fmt,...)
{
	if (!r->failed && !r->err->failed)
	{
		char		message[sizeof(r->err->message)];
		va_list		ap;

		va_start(ap, fmt);
		vsnprintf(message, sizeof(message), fmt, ap);
		va_end(ap);
		mtm_error_set_where(r->err, NULL, 0, 0, "%s", message);
	}
	r->failed = true;
}

/* Grows the output for n more bytes, or fails the render at the output limit. */
static bool
out_grow(MtmOut *out, size_t n)
{
	size_t		cap;

	if (out->overflow)
		return false;
	if (out->len + n > out->max)
	{
		out->overflow = true;
		render_fail(out->render, "rendered output exceeds the limit of %zu bytes", out->max);
		return false;
	}
	cap = out->cap ? out->cap : 4096;
	while (cap < out->len + n + 1)
		cap *= 2;
	if (cap > out->max + 1)
		cap = out->max + 1;
	out->buf = mt_realloc(out->buf, cap);
	out->cap = cap;
	return true;
}

/* Makes room for n more bytes (the common case inline). */
static inline bool
out_reserve(MtmOut *out, size_t n)
{
	if (out->len + n < out->cap && out->len + n <= out->max)
		return true;
	return out_grow(out, n);
}

/* Appends raw bytes. */
static inline void
out_raw(MtmOut *out, const char *s, size_t n)
{
	if (n == 0 || !out_reserve(out, n))
		return;
	memcpy(out->buf + out->len, s, n);
	out->len += n;
}

/* Writes the pending indentation before the first byte of a new line. */
static inline void
flush_indent(Render *r)
{
	if (r->pending_indent)
	{
		r->pending_indent = false;
		out_raw(&r->out, r->indent, r->indent_len);
	}
}

/* Which bytes {{x}} escapes (& < > " '): the index of their entity, 0 for the others. */
static const unsigned char html_escape_index[256] = {
	['&'] = 1, ['<'] = 2, ['>'] = 3, ['"'] = 4, ['\''] = 5,
};
static const char *const html_entities[] = {"", "&amp;", "&lt;", "&gt;", "&quot;", "&#39;"};
static const unsigned char html_entity_len[] = {0, 5, 4, 4, 6, 5};

/* Appends data text, HTML-escaped when the tag asks for it. */
void
mtm_out_write(MtmOut *out, const char *s, size_t n)
{
	size_t		i = 0;

	if (n == 0)
		return;
	if (out->probe)
	{
		if (out->len < out->cap)
			memcpy(out->buf + out->len, s, n < out->cap - out->len ? n : out->cap - out->len);
		out->len += n;
		return;
	}
	flush_indent(out->render);
	if (!out->escape)
	{
		out_raw(out, s, n);
		return;
	}
	while (i < n)
	{
		size_t		run = i;
		unsigned char entity;

		while (i < n && html_escape_index[(unsigned char) s[i]] == 0)
			i++;
		out_raw(out, s + run, i - run);
		if (i == n)
			break;
		entity = html_escape_index[(unsigned char) s[i++]];
		out_raw(out, html_entities[entity], html_entity_len[entity]);
	}
}

/* Appends template text, indenting each new line that has content when indentation is on. */
static void
write_text(Render *r, const char *s, size_t n)
{
	if (n == 0)
		return;
	if (r->indent_len == 0)
	{
		r->pending_indent = false;
		out_raw(&r->out, s, n);
		r->pending_indent = s[n - 1] == '\n';
		return;
	}
	while (n > 0)
	{
		const char *nl = memchr(s, '\n', n);
		size_t		line = nl ? (size_t) (nl - s) + 1 : n;
		bool		empty = s[0] == '\n' || (line == 2 && s[0] == '\r');

		if (!empty)
			flush_indent(r);
		out_raw(&r->out, s, line);
		r->pending_indent = nl != NULL;
		s += line;
		n -= line;
	}
}

/* Pushes indentation (appended to the current one); returns the length to restore. */
static size_t
indent_push(Render *r, const char *s, size_t n)
{
	size_t		saved = r->indent_len;

	if (n == 0)
		return saved;
	if (r->indent_len + n > r->indent_cap)
	{
		r->indent_cap = (r->indent_len + n) * 2 + 16;
		r->indent = mt_realloc(r->indent, r->indent_cap);
	}
	memcpy(r->indent + r->indent_len, s, n);
	r->indent_len += n;
	return saved;
}

/* Pushes a data context. */
static void
context_push(Render *r, MtmValue v)
{
	if (r->depth == r->stack_cap)
	{
		r->stack_cap = r->stack_cap ? r->stack_cap * 2 : 16;
		r->stack = mt_realloc(r->stack, r->stack_cap * sizeof(MtmValue));
	}
	r->stack[r->depth++] = v;
}

/* The kind of a value, MISSING for NULL. */
static inline MtmKind
kind_of(Render *r, MtmValue v)
{
	return v == NULL ? MTM_MISSING : r->ops->kind(r->data_ctx, v);
}

/*
 * The member `part` of v: a key of an object, or an element of an array when part is a decimal
 * index ({{items.0.name}}, as in mustache.js). NULL when there is none.
 */
static MtmValue
member_of(const MtmDataOps *ops, void *data_ctx, MtmValue v, const char *part, size_t len)
{
	MtmKind		kind = ops->kind(data_ctx, v);

	if (kind == MTM_OBJECT)
		return ops->get_key(data_ctx, v, part, len);
	if (kind == MTM_ARRAY && len > 0 && len <= 9)
	{
		size_t		index = 0;

		for (size_t i = 0; i < len; i++)
		{
			if (part[i] < '0' || part[i] > '9')
				return NULL;
			index = index * 10 + (part[i] - '0');
		}
		if (index < ops->array_length(data_ctx, v))
			return ops->array_element(data_ctx, v, index);
	}
	return NULL;
}

/* Hands a handle back to the data interface when the engine got it from a lookup. */
static inline void
release(Render *r, MtmValue v, bool owned)
{
	if (owned && v != NULL && r->ops->release != NULL)
		r->ops->release(r->data_ctx, v);
}

/*
 * Resolves a dotted name against the context stack, per the spec. *owned tells whether the
 * result came from a lookup (release it when done) or is a context on the stack.
 */
static MtmValue
resolve(Render *r, const Name *name, bool *owned)
{
	MtmValue	v = NULL;

	*owned = false;
	if (name->nparts == 0)
		return r->depth > 0 ? r->stack[r->depth - 1] : NULL;
	for (size_t i = r->depth; i-- > 0;)
	{
		if (kind_of(r, r->stack[i]) != MTM_OBJECT)
			continue;
		v = r->ops->get_key(r->data_ctx, r->stack[i], name->parts[0], name->lens[0]);
		if (v != NULL)
			break;
	}
	for (int p = 1; p < name->nparts && v != NULL; p++)
	{
		MtmValue	member = member_of(r->ops, r->data_ctx, v, name->parts[p], name->lens[p]);

		release(r, v, true);
		v = member;
	}
	*owned = v != NULL;
	return v;
}

/* Counts one unit of work; fails the render past the limit. */
static inline bool
step(Render *r)
{
	if (++r->steps > r->max_steps)
	{
		render_fail(r, "rendering takes more than %llu steps (a runaway template?)",
					(unsigned long long) r->max_steps);
		return false;
	}
	return true;
}

/*
 * Truthiness as in JavaScript (and mustache.js): missing, null, false, "", 0 and [] are false.
 * Strings and numbers are probed through a small scratch output that keeps only their first
 * bytes (a number's text is short; a string only needs to be non-empty), so probing a huge
 * string copies nothing.
 */
static bool
truthy(Render *r, MtmValue v, MtmKind kind)
{
	switch (kind)
	{
		case MTM_MISSING:
		case MTM_NULL:
		case MTM_FALSE:
			return false;
		case MTM_TRUE:
		case MTM_OBJECT:
			return true;
		case MTM_ARRAY:
			return r->ops->array_length(r->data_ctx, v) > 0;
		case MTM_STRING:
		case MTM_NUMBER:
			{
				char		text[64];
				MtmOut		probe = {0};
				double		d;

				probe.buf = text;
				probe.cap = sizeof(text) - 1;
				probe.probe = true;
				probe.render = r;
				r->ops->append_scalar(r->data_ctx, v, &probe);
				if (kind == MTM_STRING)
					return probe.len > 0;
				text[probe.len < probe.cap ? probe.len : probe.cap] = '\0';
				return sscanf(text, "%lf", &d) != 1 || d != 0.0;
			}
	}
	return false;
}

static void render_nodes(Render *r, const Node *node);

/* Runs a nested template (partial, parent, block content) within the nesting limit. */
static bool
enter_nesting(Render *r, const Name *name)
{
	if (r->nesting >= r->max_depth)
	{
		render_fail(r, "partials, parents and blocks nested deeper than %d levels at \"%.*s\" (does a partial include itself?)",
					r->max_depth, quoted_len(name->full_len), name->full);
		return false;
	}
	r->nesting++;
	return true;
}

/* Looks up a partial or parent template by name; NULL when missing or failed. */
static const MtmTemplate *
lookup(Render *r, const Name *name)
{
	const MtmTemplate *found;

	if (r->opt->lookup == NULL)
		return NULL;
	found = r->opt->lookup(r->opt->lookup_ctx, name->full, name->full_len, r->err);
	if (found == NULL && r->err->failed)
		r->failed = true;
	return found;
}

/* Finds the block argument for `name`, outermost parent call first. */
static const Node *
find_block_argument(Render *r, const Name *name)
{
	for (size_t i = 0; i < r->nparents; i++)
		for (const Node *arg = r->parents[i]->first; arg != NULL; arg = arg->next)
			if (arg->kind == NODE_BLOCK && arg->name.full_len == name->full_len &&
				memcmp(arg->name.full, name->full, name->full_len) == 0)
				return arg;
	return NULL;
}

/* Renders a template reached through {{>x}} or {{<x}}, indented when it stands alone. */
static void
render_external(Render *r, const Node *node, const MtmTemplate *tmpl)
{
	size_t		saved_indent = r->indent_len;

	if (node->standalone)
	{
		indent_push(r, node->indent, node->indent_len);
		r->pending_indent = true;
	}
	render_nodes(r, tmpl->root->first);
	r->indent_len = saved_indent;
}

/* Renders {{$x}} where it is defined: its argument from a parent call, or its default. */
static void
render_block_site(Render *r, const Node *node)
{
	const Node *arg = find_block_argument(r, &node->name);
	const Node *content = arg ? arg->first : node->first;
	size_t		saved_indent = r->indent_len;

	if (!enter_nesting(r, &node->name))
		return;
	if (node->indent_len > 0)
		indent_push(r, node->indent, node->indent_len);
	if (node->standalone)
		r->pending_indent = true;
	render_nodes(r, content);
	r->indent_len = saved_indent;
	r->nesting--;
}

/* Renders a section: once per element of a list, once for another truthy value. */
static void
render_section(Render *r, const Node *node)
{
	bool		owned;
	MtmValue	v = resolve(r, &node->name, &owned);
	MtmKind		kind = kind_of(r, v);

	if (node->kind == NODE_INVERTED)
	{
		if (!truthy(r, v, kind))
			render_nodes(r, node->first);
	}
	else if (kind == MTM_ARRAY)
	{
		size_t		n = r->ops->array_length(r->data_ctx, v);

		for (size_t i = 0; i < n && !r->failed && step(r); i++)
		{
			MtmValue	element = r->ops->array_element(r->data_ctx, v, i);

			context_push(r, element);
			render_nodes(r, node->first);
			r->depth--;
			release(r, element, true);
		}
	}
	else if (truthy(r, v, kind))
	{
		context_push(r, v);
		render_nodes(r, node->first);
		r->depth--;
	}
	release(r, v, owned);
}

/* Renders {{x}}: scalars as text, null/missing/lists/objects as nothing. */
static void
render_var(Render *r, const Node *node)
{
	bool		owned;
	MtmValue	v = resolve(r, &node->name, &owned);

	switch (kind_of(r, v))
	{
		case MTM_STRING:
		case MTM_NUMBER:
			r->out.escape = node->escape && r->opt->escape_html;
			r->ops->append_scalar(r->data_ctx, v, &r->out);
			break;
		case MTM_TRUE:
			r->out.escape = false;
			mtm_out_write(&r->out, "true", 4);
			break;
		case MTM_FALSE:
			r->out.escape = false;
			mtm_out_write(&r->out, "false", 5);
			break;
		default:
			break;
	}
	release(r, v, owned);
}

/*
 * Renders a list of sibling nodes. Every level of recursion (section, partial, parent, block)
 * comes through here, so this is where the caller's stack guard is asked.
 */
static void
render_nodes(Render *r, const Node *node)
{
	if (r->opt->stack_too_deep != NULL && node != NULL && r->opt->stack_too_deep())
	{
		render_fail(r, "rendering nests too deep for the stack (partials, sections and blocks inside each other)");
		return;
	}
	for (; node != NULL && !r->failed; node = node->next)
	{
		if (!step(r))
			return;
		switch (node->kind)
		{
			case NODE_TEXT:
				write_text(r, node->text, node->len);
				break;
			case NODE_VAR:
				render_var(r, node);
				break;
			case NODE_SECTION:
			case NODE_INVERTED:
				render_section(r, node);
				break;
			case NODE_PARTIAL:
				{
					const MtmTemplate *tmpl;

					if (!enter_nesting(r, &node->name))
						return;
					tmpl = lookup(r, &node->name);
					if (tmpl)
						render_external(r, node, tmpl);
					r->nesting--;
					break;
				}
			case NODE_PARENT:
				{
					const MtmTemplate *tmpl;

					if (!enter_nesting(r, &node->name))
						return;
					tmpl = lookup(r, &node->name);
					if (tmpl)
					{
						if (r->nparents == r->parents_cap)
						{
							r->parents_cap = r->parents_cap ? r->parents_cap * 2 : 8;
							r->parents = mt_realloc(r->parents, r->parents_cap * sizeof(Node *));
						}
						r->parents[r->nparents++] = node;
						render_external(r, node, tmpl);
						r->nparents--;
					}
					r->nesting--;
					break;
				}
			case NODE_BLOCK:
				render_block_site(r, node);
				break;
		}
		if (r->out.overflow)
			r->failed = true;
	}
}

/* Renders a compiled template (see mustache.h). */
char *
mtm_render(const MtmTemplate *tmpl, const MtmDataOps *ops, void *data_ctx, MtmValue root,
		   const MtmRenderOptions *options, size_t *out_len, MtmError *err)
{
	Render		r;
	MtmRenderOptions defaults = {0};
	MtmError	local = {0};
	char	   *result;

	memset(&r, 0, sizeof(r));
	r.ops = ops;
	r.data_ctx = data_ctx;
	r.opt = options ? options : &defaults;
	r.err = err ? err : &local;
	r.out.max = r.opt->max_output ? r.opt->max_output : MTM_DEFAULT_MAX_OUTPUT;
	r.out.render = &r;
	r.max_depth = r.opt->max_depth > 0 ? r.opt->max_depth : MTM_DEFAULT_MAX_DEPTH;
	r.max_steps = r.opt->max_steps > 0 ? r.opt->max_steps : MTM_DEFAULT_MAX_STEPS;
	context_push(&r, root);

	render_nodes(&r, tmpl->root->first);

	mt_free(r.stack);
	mt_free(r.parents);
	mt_free(r.indent);
	if (r.failed || r.err->failed)
	{
		mt_free(r.out.buf);
		return NULL;
	}
	if (r.out.buf == NULL)
		r.out.buf = mt_alloc(1);
	r.out.buf[r.out.len] = '\0';
	if (out_len)
		*out_len = r.out.len;
	result = r.out.buf;
	return result;
}

/* Resolves a dotted name against root alone (see mustache.h). */
MtmValue
mtm_resolve_dotted(const MtmDataOps *ops, void *data_ctx, MtmValue root, const char *dotted_name,
				   size_t len)
{
	MtmValue	v = root;
	size_t		start = 0;
	char		part[256];

	if (len == 1 && dotted_name[0] == '.')
		return root;
	for (size_t i = 0; i <= len && v != NULL; i++)
	{
		if (i < len && dotted_name[i] != '.')
			continue;
		if (i == start || i - start >= sizeof(part))
			return NULL;
		memcpy(part, dotted_name + start, i - start);
		part[i - start] = '\0';
		{
			MtmValue	member = member_of(ops, data_ctx, v, part, i - start);

			if (v != root && ops->release != NULL)
				ops->release(data_ctx, v);
			v = member;
		}
		start = i + 1;
	}
	return v;
}
