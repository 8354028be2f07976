-- Lets "sightings in these areas" (county, municipality or unit, over a period) use an index for
-- each level instead of reading every sighting of the period.
CREATE INDEX identifications_county_idx ON identifications (county_id, observed_at);
