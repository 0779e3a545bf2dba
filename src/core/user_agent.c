/*
 * user_agent.c: uap-core's device and OS parsers (libyaml + PCRE2) and the mobile / tablet /
 * desktop rules on top of them (user_agent.h). No PostgreSQL dependency.
 */
#define PCRE2_CODE_UNIT_WIDTH 8

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <pcre2.h>
#include <yaml.h>

#include "user_agent.h"

/* User agents longer than this are classified by their first MAX_UA bytes. */
#define MAX_UA 2048

/* One parser: a compiled regex and the replacement of its first capture ($1...$9 allowed). */
typedef struct UaParser
{
	pcre2_code *re;
	char	   *replacement;	/* NULL: the first capture */
} UaParser;

struct MtUaDb
{
	UaParser   *devices;
	int			n_devices;
	UaParser   *os;
	int			n_os;
	pcre2_match_data *match;
};

/* The text of a scalar node, or NULL. */
static const char *
scalar(yaml_document_t *doc, yaml_node_t *node)
{
	return (node && node->type == YAML_SCALAR_NODE) ? (const char *) node->data.scalar.value : NULL;
}

/* The value of key in a mapping node, or NULL. */
static yaml_node_t *
mapping_get(yaml_document_t *doc, yaml_node_t *map, const char *key)
{
	if (map == NULL || map->type != YAML_MAPPING_NODE)
		return NULL;
	for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++)
	{
		const char *k = scalar(doc, yaml_document_get_node(doc, p->key));

		if (k && strcmp(k, key) == 0)
			return yaml_document_get_node(doc, p->value);
	}
	return NULL;
}

/* A malloc'd copy of s (NULL stays). */
static char *
copy(const char *s)
{
	char	   *c;

	if (s == NULL)
		return NULL;
	c = malloc(strlen(s) + 1);
	if (c)
		strcpy(c, s);
	return c;
}

/* Compiles the parsers of one top-level list (e.g. device_parsers); false with errbuf filled. */
static bool
load_parsers(yaml_document_t *doc, yaml_node_t *root, const char *list, const char *replacement_key,
			 UaParser **out, int *n, char *errbuf, size_t errlen)
{
	yaml_node_t *seq = mapping_get(doc, root, list);
	int			count;

	if (seq == NULL || seq->type != YAML_SEQUENCE_NODE)
	{
		snprintf(errbuf, errlen, "regexes.yaml has no list %s", list);
		return false;
	}
	count = (int) (seq->data.sequence.items.top - seq->data.sequence.items.start);
	*out = calloc((size_t) count + 1, sizeof(UaParser));
	if (*out == NULL)
	{
		snprintf(errbuf, errlen, "out of memory");
		return false;
	}
	*n = 0;
	for (int i = 0; i < count; i++)
	{
		yaml_node_t *item = yaml_document_get_node(doc, seq->data.sequence.items.start[i]);
		const char *regex = scalar(doc, mapping_get(doc, item, "regex"));
		const char *flag = scalar(doc, mapping_get(doc, item, "regex_flag"));
		int			code;
		PCRE2_SIZE	offset;
		pcre2_code *re;

		if (regex == NULL)
			continue;
		re = pcre2_compile((PCRE2_SPTR) regex, PCRE2_ZERO_TERMINATED,
						   (flag && strchr(flag, 'i')) ? PCRE2_CASELESS : 0, &code, &offset, NULL);
		if (re == NULL)
		{
			PCRE2_UCHAR message[256];

			pcre2_get_error_message(code, message, sizeof(message));
			snprintf(errbuf, errlen, "%s[%d]: pattern does not compile at offset %zu: %s", list, i,
					 (size_t) offset, (const char *) message);
			return false;
		}
		(void) pcre2_jit_compile(re, PCRE2_JIT_COMPLETE);	/* faster when available; optional */
		(*out)[*n].re = re;
		(*out)[*n].replacement = copy(scalar(doc, mapping_get(doc, item, replacement_key)));
		(*n)++;
	}
	return true;
}

/* Load regexes.yaml. */
MtUaDb *
mt_ua_db_load(const char *path, char *errbuf, size_t errlen)
{
	FILE	   *f = fopen(path, "rb");
	yaml_parser_t parser;
	yaml_document_t doc;
	MtUaDb	   *db;
	bool		ok;

	if (f == NULL)
	{
		snprintf(errbuf, errlen, "cannot open %s (install the package uap-core)", path);
		return NULL;
	}
	if (!yaml_parser_initialize(&parser))
	{
		fclose(f);
		snprintf(errbuf, errlen, "out of memory");
		return NULL;
	}
	yaml_parser_set_input_file(&parser, f);
	if (!yaml_parser_load(&parser, &doc))
	{
		snprintf(errbuf, errlen, "%s is not valid YAML: %s (line %zu)", path,
				 parser.problem ? parser.problem : "?", (size_t) parser.problem_mark.line + 1);
		yaml_parser_delete(&parser);
		fclose(f);
		return NULL;
	}
	db = calloc(1, sizeof(MtUaDb));
	ok = db != NULL &&
		load_parsers(&doc, yaml_document_get_root_node(&doc), "device_parsers", "device_replacement",
					 &db->devices, &db->n_devices, errbuf, errlen) &&
		load_parsers(&doc, yaml_document_get_root_node(&doc), "os_parsers", "os_replacement",
					 &db->os, &db->n_os, errbuf, errlen);
	yaml_document_delete(&doc);
	yaml_parser_delete(&parser);
	fclose(f);
	if (ok && (db->match = pcre2_match_data_create(10, NULL)) == NULL)
	{
		snprintf(errbuf, errlen, "out of memory");
		ok = false;
	}
	if (!ok)
	{
		if (db == NULL)
			snprintf(errbuf, errlen, "out of memory");
		mt_ua_db_free(db);
		return NULL;
	}
	return db;
}

/* Free the parsers of one list. */
static void
free_parsers(UaParser *parsers, int n)
{
	for (int i = 0; parsers && i < n; i++)
	{
		pcre2_code_free(parsers[i].re);
		free(parsers[i].replacement);
	}
	free(parsers);
}

/* Free a database. */
void
mt_ua_db_free(MtUaDb *db)
{
	if (db == NULL)
		return;
	free_parsers(db->devices, db->n_devices);
	free_parsers(db->os, db->n_os);
	if (db->match)
		pcre2_match_data_free(db->match);
	free(db);
}

/* Sizes of the lists. */
int
mt_ua_db_size(const MtUaDb *db, int *n_os)
{
	*n_os = db->n_os;
	return db->n_devices;
}

/*
 * The first parser that matches: its replacement with $1..$9 filled (or the first capture) into
 * out, trimmed; "Other" when none matches.
 */
static void
first_match(const MtUaDb *db, const UaParser *parsers, int n, const char *ua, size_t len,
			char *out, size_t outlen)
{
	snprintf(out, outlen, "Other");
	for (int i = 0; i < n; i++)
	{
		int			rc = pcre2_match(parsers[i].re, (PCRE2_SPTR) ua, len, 0, 0, db->match, NULL);
		PCRE2_SIZE *ov;
		size_t		used = 0;
		const char *r;

		if (rc < 0)
			continue;
		ov = pcre2_get_ovector_pointer(db->match);
		r = parsers[i].replacement ? parsers[i].replacement : "$1";
		for (; *r && used + 1 < outlen; r++)
		{
			if (r[0] == '$' && r[1] >= '1' && r[1] <= '9')
			{
				int			g = r[1] - '0';

				r++;
				if (g < rc && ov[2 * g] != PCRE2_UNSET)
					for (PCRE2_SIZE k = ov[2 * g]; k < ov[2 * g + 1] && used + 1 < outlen; k++)
						out[used++] = ua[k];
				continue;
			}
			out[used++] = *r;
		}
		out[used] = '\0';
		/* trim */
		while (used > 0 && out[used - 1] == ' ')
			out[--used] = '\0';
		if (out[0] == ' ')
			memmove(out, out + strspn(out, " "), strlen(out + strspn(out, " ")) + 1);
		if (out[0] == '\0')
			snprintf(out, outlen, "Other");
		return;
	}
}

/* Does the first len bytes of hay contain needle? */
static bool
contains(const char *hay, size_t len, const char *needle)
{
	size_t		n = strlen(needle);

	for (size_t i = 0; i + n <= len; i++)
		if (memcmp(hay + i, needle, n) == 0)
			return true;
	return false;
}

/* Is s one of the NULL-terminated names? */
static bool
one_of(const char *s, const char *const *names)
{
	for (int i = 0; names[i]; i++)
		if (strcmp(s, names[i]) == 0)
			return true;
	return false;
}

/* Classify a user agent. */
void
mt_ua_classify(const MtUaDb *db, const char *ua, size_t len, MtDeviceInfo *out)
{
	static const char *const tablet_families[] = {"iPad", "Generic Tablet", "Kindle", "Kindle Fire",
	"Kindle Fire HD", "BlackBerry Playbook", "Blackberry Playbook", "Galaxy Tab", "Xoom", NULL};
	static const char *const mobile_families[] = {"iPhone", "iPod", "Generic Smartphone",
	"Generic Feature Phone", "PlayStation Vita", NULL};
	static const char *const mobile_os[] = {"iOS", "Android", "Windows Phone", "Windows Mobile",
		"Windows CE", "BlackBerry OS", "BlackBerry Tablet OS", "Firefox OS", "KaiOS", "Symbian OS",
	"Symbian^3", "Bada", "webOS", "Tizen", "Sailfish", "Ubuntu Touch", "MeeGo", "Maemo", NULL};

	if (len > MAX_UA)
		len = MAX_UA;
	first_match(db, db->devices, db->n_devices, ua, len, out->family, sizeof(out->family));
	first_match(db, db->os, db->n_os, ua, len, out->os, sizeof(out->os));
	if (strcmp(out->family, "Spider") == 0)
		out->kind = MT_DEVICE_BOT;
	else if (one_of(out->family, tablet_families) || strncmp(out->family, "Kindle", 6) == 0 ||
			 contains(ua, len, "Tablet") || contains(ua, len, "Silk/") ||
			 strcmp(out->os, "BlackBerry Tablet OS") == 0 ||
			 /* Android tablets leave "Mobile" out of their user agent; phones have it */
			 (strcmp(out->os, "Android") == 0 && !contains(ua, len, "Mobile")))
		out->kind = MT_DEVICE_TABLET;
	else if (one_of(out->family, mobile_families) || one_of(out->os, mobile_os) ||
			 contains(ua, len, "Mobi") || contains(ua, len, "Opera Mini") ||
			 contains(ua, len, "MIDP") || contains(ua, len, "J2ME"))
		out->kind = MT_DEVICE_MOBILE;
	else
		out->kind = MT_DEVICE_DESKTOP;
}

/* The name of a device kind. */
const char *
mt_device_kind_name(MtDeviceKind kind)
{
	switch (kind)
	{
		case MT_DEVICE_MOBILE:
			return "mobile";
		case MT_DEVICE_TABLET:
			return "tablet";
		case MT_DEVICE_BOT:
			return "bot";
		case MT_DEVICE_DESKTOP:
			break;
	}
	return "desktop";
}
