module example.com/joke

go 1.19
