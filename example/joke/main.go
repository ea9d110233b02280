// Command joke prints a joke, or serves one over HTTP with -listen.
// It is the example app that goapp-build's default config builds.
package main

import (
	"flag"
	"fmt"
	"log"
	"net/http"
	"runtime"
)

const joke = "Why do Go programmers like containers? Because they ship statically."

func main() {
	listen := flag.String("listen", "", "serve the joke over HTTP on this address (e.g. :8080)")
	flag.Parse()
	if *listen == "" {
		fmt.Printf("%s (%s/%s)\n", joke, runtime.GOOS, runtime.GOARCH)
		return
	}
	http.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintln(w, joke)
	})
	log.Fatal(http.ListenAndServe(*listen, nil))
}
