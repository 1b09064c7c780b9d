-- Answers have a deadline: a party who has not answered a proposal within the community's
-- answer time (answer_min after the proposal) or by its cut-off before departure is 'expired'.
-- The match settles without them (the others can be confirmed); a match whose driver never
-- answered is 'expired' as a whole and its riders are open for the next run again.

ALTER TYPE party_status ADD VALUE IF NOT EXISTS 'expired';
ALTER TYPE match_status ADD VALUE IF NOT EXISTS 'expired';

-- The scheduler looks for live matches with someone still to answer.
CREATE INDEX match_unanswered ON match (community_id, departure_at)
    WHERE status IN ('proposed', 'accepted');
