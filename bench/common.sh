# Shared by the shell benchmarks and scripts/pgo-train.sh (source it): free ports, readiness
# checks, and the nginx backend they put behind each proxy.

port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# Waits (bounded: 10 s) until something accepts on 127.0.0.1:$1.
wait_port() { for _ in $(seq 1 200); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.05; done; return 1; }

# Writes $1/nginx.conf: one nginx worker answering "hello, world\n" on 127.0.0.1:$2, its files
# under $1/ng.
write_backend_conf() {
  local dir=$1 p=$2
  mkdir -p "$dir/ng"
  cat > "$dir/nginx.conf" <<NGX
daemon off; master_process off; worker_processes 1; pid $dir/ng/pid; error_log $dir/ng/err error;
events { worker_connections 1024; }
http { access_log off; keepalive_requests 100000000; client_body_temp_path $dir/ng/b; proxy_temp_path $dir/ng/p;
  fastcgi_temp_path $dir/ng/f; uwsgi_temp_path $dir/ng/u; scgi_temp_path $dir/ng/s;
  server { listen 127.0.0.1:$p; location / { return 200 "hello, world\n"; } } }
NGX
}
