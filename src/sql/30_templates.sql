-- Templates: rendering (Mustache, C engine in render.c / mustache.c) and validation when written.

-- Renders a Mustache template against data, HTML-escaping {{x}}. Partials and parents resolve
-- from `partials` (an object name -> template text), then from microtrigger.templates by name
-- (its html_body), among the templates owned by a role the caller is a member of. A bad template, or one that runs past the limits (1 MiB of output, 64 nested
-- partials), raises SQLSTATE 22023 with the line and column.
CREATE FUNCTION microtrigger.render(template text, data jsonb, partials jsonb DEFAULT '{}')
RETURNS text
AS 'MODULE_PATHNAME', 'mt_render_sql'
LANGUAGE C STABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp;

COMMENT ON FUNCTION microtrigger.render(text, jsonb, jsonb) IS
    'renders a Mustache template with HTML escaping of {{x}}; partials from the argument, then from microtrigger.templates';

-- Whether {{name}} (dotted, e.g. 'profile.company') finds a value other than null in data: how
-- a template's `required` names are checked before an email is rendered.
CREATE FUNCTION microtrigger.has_name(data jsonb, name text)
RETURNS boolean
AS 'MODULE_PATHNAME', 'mt_has_name_sql'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION microtrigger.has_name(jsonb, text) IS
    'true when the dotted Mustache name resolves to a non-null value in data';

-- Parses subject, preheader, html_body and text_body when a template is written (a syntax error
-- fails with 22023 naming the part, line and column), warns above 5 conditional sections, and
-- sets updated_at.
CREATE FUNCTION microtrigger.templates_validate()
RETURNS trigger
AS 'MODULE_PATHNAME', 'mt_templates_validate_sql'
LANGUAGE C
SET search_path = pg_catalog, pg_temp;

CREATE TRIGGER templates_validate
    BEFORE INSERT OR UPDATE ON microtrigger.templates
    FOR EACH ROW EXECUTE FUNCTION microtrigger.templates_validate();

-- Renders a stored template as an email is rendered: subject and preheader as one-line plain
-- text (CR/LF become spaces), html_body HTML-escaped, text_body plain. A preview for people
-- writing templates; a failure raises 22023 naming the part.
CREATE FUNCTION microtrigger.render_email(template_name text, data jsonb,
    OUT subject text, OUT preheader text, OUT html_body text, OUT text_body text)
RETURNS record
AS 'MODULE_PATHNAME', 'mt_render_email_sql'
LANGUAGE C STABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp;

COMMENT ON FUNCTION microtrigger.render_email(text, jsonb) IS
    'renders every part of a stored template as an email is rendered (subject/preheader one-line text, html escaped, text plain)';
