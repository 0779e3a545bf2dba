/*
 * segment_state.c: encoding and decoding a user's kept segment state (see segment_state.h).
 */
#include "postgres.h"

#include "segment_state.h"

#define STATE_FORMAT 1
#define FLAG_MEMBER 1
#define FLAG_SCHEDULED 2
#define FLAG_PROFILE_KNOWN 4
#define FLAG_PROFILE_OK 8
#define PART_FIXED (1 + 8 + 8 + 1)	/* flags, next check, horizon, slots */
#define SLOT_FIXED (4 + 4)		/* count of times, base count */

/* Reads an int64 at p (unaligned). */
static int64
read_int64(const char *p)
{
	int64		v;

	memcpy(&v, p, sizeof(v));
	return v;
}

/* Reads an int32 at p (unaligned). */
static int32
read_int32(const char *p)
{
	int32		v;

	memcpy(&v, p, sizeof(v));
	return v;
}

/* Appends an int64. */
static void
append_int64(StringInfo buf, int64 v)
{
	appendBinaryStringInfo(buf, (const char *) &v, sizeof(v));
}

/* Appends an int32. */
static void
append_int32(StringInfo buf, int32 v)
{
	appendBinaryStringInfo(buf, (const char *) &v, sizeof(v));
}

/* The clause of a slot: include clauses first, then exclude clauses. */
static const MtClause *
slot_clause(const MtSegment *segment, int slot)
{
	return slot < segment->n_include ? &segment->include[slot] : &segment->exclude[slot - segment->n_include];
}

/* The times of a slot. */
static const MtClauseTimes *
slot_times(const MtSegment *segment, const MtSegmentTimes *times, int slot)
{
	return slot < segment->n_include ? &times->include[slot] : &times->exclude[slot - segment->n_include];
}

/* Decodes a state into parts by cache index (see segment_state.h); a malformed state is none. */
void
mt_segment_state_decode(bytea *state, MtStatePart **parts)
{
	const char *p;
	const char *end;

	for (int k = 0; k < mt_segment_cache_count(); k++)
		parts[k] = NULL;
	if (state == NULL || VARSIZE_ANY_EXHDR(state) < 1)
		return;
	p = VARDATA_ANY(state);
	end = p + VARSIZE_ANY_EXHDR(state);
	if (*p++ != STATE_FORMAT)
		return;
	while (p < end)
	{
		const char *start = p;
		int			name_len = (unsigned char) *p++;
		char		name[256];
		MtSegmentEntry *entry;
		MtStatePart part;
		int			flags;

		if (end - p < name_len + PART_FIXED)
			return;
		memcpy(name, p, name_len);
		name[name_len] = '\0';
		p += name_len;
		flags = (unsigned char) *p++;
		part.member = (flags & FLAG_MEMBER) != 0;
		part.scheduled = (flags & FLAG_SCHEDULED) != 0;
		part.profile_known = (flags & FLAG_PROFILE_KNOWN) != 0;
		part.profile_ok = (flags & FLAG_PROFILE_OK) != 0;
		part.changes_at = read_int64(p);
		part.horizon = read_int64(p + 8);
		part.n_slots = (unsigned char) p[16];
		p += 17;
		part.slots = p;
		for (int s = 0; s < part.n_slots; s++)
		{
			int32		n;

			if (end - p < SLOT_FIXED)
				return;
			n = read_int32(p);
			if (n < 0 || (end - p - SLOT_FIXED) / 8 < n)
				return;
			p += SLOT_FIXED + (Size) n * 8;
		}
		part.raw = start;
		part.raw_len = (int) (p - start);
		entry = mt_segment_cache_lookup(name);
		if (entry != NULL && part.n_slots == entry->segment->n_include + entry->segment->n_exclude)
		{
			parts[entry->index] = palloc(sizeof(MtStatePart));
			*parts[entry->index] = part;
		}
	}
}

/* Adds a part's times to times (see segment_state.h). */
void
mt_segment_state_times(const MtStatePart *part, const MtSegment *segment, MtSegmentTimes *times)
{
	const char *p = part->slots;

	for (int s = 0; s < part->n_slots; s++)
	{
		MtClauseTimes *into = (MtClauseTimes *) slot_times(segment, times, s);
		int32		n = read_int32(p);

		into->base += read_int32(p + 4);
		p += SLOT_FIXED;
		for (int i = 0; i < n; i++)
			mt_clause_times_add(into, read_int64(p + (Size) i * 8));
		p += (Size) n * 8;
	}
}

/* Starts an encoded state. */
void
mt_segment_state_begin(StringInfo buf)
{
	initStringInfo(buf);
	appendStringInfoSpaces(buf, VARHDRSZ);
	appendStringInfoChar(buf, STATE_FORMAT);
}

/*
 * Appends a part. A windowed clause keeps its times from horizon - within on; a clause without
 * a window counts the times before the horizon into its base. times must be sorted.
 */
void
mt_segment_state_add(StringInfo buf, const MtSegment *segment, bool member, bool scheduled,
					 TimestampTz changes_at, bool profile_known, bool profile_ok,
					 TimestampTz horizon, const MtSegmentTimes *times)
{
	int			name_len = (int) strlen(segment->name);
	int			n_slots = segment->n_include + segment->n_exclude;

	if (name_len > 255 || n_slots > 255)
		return;					/* not kept: such a user is read from the events */
	appendStringInfoChar(buf, (char) name_len);
	appendBinaryStringInfo(buf, segment->name, name_len);
	appendStringInfoChar(buf, (char) ((member ? FLAG_MEMBER : 0) | (scheduled ? FLAG_SCHEDULED : 0) |
									  (profile_known ? FLAG_PROFILE_KNOWN : 0) |
									  (profile_ok ? FLAG_PROFILE_OK : 0)));
	append_int64(buf, scheduled ? changes_at : 0);
	append_int64(buf, horizon);
	appendStringInfoChar(buf, (char) n_slots);
	for (int s = 0; s < n_slots; s++)
	{
		const MtClause *clause = slot_clause(segment, s);
		const MtClauseTimes *t = slot_times(segment, times, s);
		int64		keep_from = clause->has_within ? mt_time_add_saturated(horizon, -clause->within) : horizon;
		int			first = 0;

		while (first < t->n && t->times[first] < keep_from)
			first++;
		append_int32(buf, t->n - first);
		append_int32(buf, (int32) (clause->has_within ? 0 : t->base + first));
		appendBinaryStringInfo(buf, (const char *) (t->times + first), (t->n - first) * 8);
	}
}

/* Appends a part of an old state unchanged. */
void
mt_segment_state_carry(StringInfo buf, const MtStatePart *part)
{
	appendBinaryStringInfo(buf, part->raw, part->raw_len);
}
