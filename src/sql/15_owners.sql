-- Who may write a definition: triggers, templates, sequences and segments each have an owner, and
-- a role may create, change, disable, give away or delete a row only when it is a member of its
-- owner (both the old and the new one). A trigger's context query runs as its owner, and its
-- emails, and a sequence's, use only templates of a role their owner is a member of.

CREATE FUNCTION microtrigger.check_definition_owner() RETURNS trigger
    LANGUAGE c SET search_path = pg_catalog, pg_temp
    AS 'MODULE_PATHNAME', 'mt_check_definition_owner_sql';

-- Named to fire before each table's validation trigger (row triggers fire in name order).
CREATE TRIGGER check_owner BEFORE INSERT OR UPDATE OR DELETE ON microtrigger.triggers
    FOR EACH ROW EXECUTE FUNCTION microtrigger.check_definition_owner('trigger');
CREATE TRIGGER check_owner BEFORE INSERT OR UPDATE OR DELETE ON microtrigger.templates
    FOR EACH ROW EXECUTE FUNCTION microtrigger.check_definition_owner('template');
CREATE TRIGGER check_owner BEFORE INSERT OR UPDATE OR DELETE ON microtrigger.sequences
    FOR EACH ROW EXECUTE FUNCTION microtrigger.check_definition_owner('sequence');
CREATE TRIGGER check_owner BEFORE INSERT OR UPDATE OR DELETE ON microtrigger.segments
    FOR EACH ROW EXECUTE FUNCTION microtrigger.check_definition_owner('segment');

-- A template or sequence in use is neither deleted nor renamed (2BP01 naming the enabled triggers
-- and sequences that use it). SECURITY DEFINER: it reads every trigger and sequence, not only those
-- the caller may see. TRUNCATE skips it, as it skips every row trigger.
CREATE FUNCTION microtrigger.refuse_removal_in_use() RETURNS trigger
    LANGUAGE c SECURITY DEFINER SET search_path = pg_catalog, pg_temp
    AS 'MODULE_PATHNAME', 'mt_refuse_removal_in_use_sql';
CREATE TRIGGER in_use BEFORE DELETE OR UPDATE OF name ON microtrigger.templates
    FOR EACH ROW EXECUTE FUNCTION microtrigger.refuse_removal_in_use('template');
CREATE TRIGGER in_use BEFORE DELETE OR UPDATE OF name ON microtrigger.sequences
    FOR EACH ROW EXECUTE FUNCTION microtrigger.refuse_removal_in_use('sequence');

-- A template is seen only by members of its owner (superusers and the extension's owner see all):
-- another author can neither read it with SELECT nor pull it in as a partial. Writes pass the
-- policies and are judged by check_owner, which names the reason.
ALTER TABLE microtrigger.templates ENABLE ROW LEVEL SECURITY;
CREATE POLICY templates_read ON microtrigger.templates FOR SELECT
    USING (pg_catalog.pg_has_role(owner, 'MEMBER'));
CREATE POLICY templates_insert ON microtrigger.templates FOR INSERT WITH CHECK (true);
CREATE POLICY templates_update ON microtrigger.templates FOR UPDATE USING (true) WITH CHECK (true);
CREATE POLICY templates_delete ON microtrigger.templates FOR DELETE USING (true);
