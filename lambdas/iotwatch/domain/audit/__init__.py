"""Control-plane audit: CloudTrail records of AWS IoT API calls, judged and recorded.

`reading` turns records into `event`s, `policy` says which calls page and how loudly,
`recorded` is what iotwatch keeps of a call."""
