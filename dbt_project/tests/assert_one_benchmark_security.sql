-- The security master flags exactly one benchmark (SPY): the performance fact's beta and
-- benchmark columns are computed against it, and dim_security copies the flag.
select count(*) as benchmark_count
from {{ ref('security_master') }}
where is_benchmark
having count(*) <> 1
