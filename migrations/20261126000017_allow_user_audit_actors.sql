-- A user acting through the admin API is recorded as actor `user`
-- (`ditto_store::audit`); the first audit migration only allowed service
-- accounts and the system, so every change a user made would have failed.
ALTER TABLE audit_events
    DROP CONSTRAINT audit_events_actor_type_check,
    ADD CONSTRAINT audit_events_actor_type_check
        CHECK (actor_type IN ('service_account', 'user', 'system'));
