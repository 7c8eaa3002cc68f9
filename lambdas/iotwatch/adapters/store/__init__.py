"""Everything iotwatch keeps, in one DynamoDB table: per series (pk SERIES#<id>: BASELINE,
STATE, TRACKER), runs and shards, the outbox, silences, audit calls, incidents and discovered
values; one repository per kind of record (its module), all over one table client (`table`)."""
