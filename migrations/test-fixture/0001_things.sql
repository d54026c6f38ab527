-- Fixture used by db/test: exercises multi-statement files and dollar-quoted bodies.
CREATE TABLE things (id SERIAL PRIMARY KEY, name TEXT NOT NULL UNIQUE, body JSONB NOT NULL DEFAULT '{}');
CREATE OR REPLACE FUNCTION things_upper() RETURNS trigger AS $$
BEGIN
  NEW.name := upper(NEW.name);
  RETURN NEW;
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER things_upper BEFORE INSERT ON things FOR EACH ROW EXECUTE FUNCTION things_upper();
