-- A group commit is one statement sent on its own, so that it is a transaction of its own
-- (host/store/src/group_batch.rs): its checks (the shard still has this node's range id,
-- each conditional write changed its row) are made inside it, by this function, which
-- raises when one fails; the raise rolls the whole statement back.
CREATE FUNCTION sundial_check(ok BOOLEAN, what TEXT) RETURNS BOOLEAN
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    IF ok IS NOT TRUE THEN
        RAISE EXCEPTION 'group commit check failed: %', what;
    END IF;
    RETURN TRUE;
END
$$;
