"""Small source files in each supported layout, written by the tests themselves."""

from __future__ import annotations

from pathlib import Path


def write(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.encode(encoding))
    return path


def movielens_100k(folder: Path) -> Path:
    write(folder / "u.data", "1\t1\t5\t881250949\n1\t2\t3\t881250950\n2\t1\t4\t881250951\n2\t3\t2\t881250952\n"
                             "3\t2\t4\t881250953\n")
    write(folder / "u.genre", "unknown|0\nAction|1\nComedy|2\n\n")
    write(folder / "u.item", "1|Toy Story (1995)|01-Jan-1995||http://x|0|0|1\n"
                             "2|GoldenEye (1995)|01-Jan-1995||http://x|0|1|0\n"
                             "3|Café Society (1996)|||http://x|1|1|1\n", encoding="latin-1")
    return folder


def movielens_1m(folder: Path) -> Path:
    write(folder / "ratings.dat", "1::1193::5::978300760\n1::661::3::978302109\n2::1193::4::978298413\n")
    write(folder / "movies.dat", "1193::One Flew Over the Cuckoo's Nest (1975)::Drama\n"
                                 "661::James and the Giant Peach (1996)::Animation|Children's|Musical\n",
          encoding="latin-1")
    return folder


def movielens_csv(folder: Path) -> Path:
    write(folder / "ratings.csv", "userId,movieId,rating,timestamp\r\n1,1,4.0,964982703\r\n1,3,4.5,964981247\r\n"
                                  "2,1,2.5,964982224\r\n")
    write(folder / "movies.csv", 'movieId,title,genres\r\n1,Toy Story (1995),Adventure|Animation\r\n'
                                 '3,"American President, The (1995)",Comedy|Drama|Romance\r\n'
                                 '5,Unrated (2001),(no genres listed)\r\n')
    write(folder / "tags.csv", "userId,movieId,tag,timestamp\r\n2,1,pixar,1445714994\r\n2,3,\"funny, sweet\",1\r\n")
    return folder


def taobao(folder: Path) -> Path:
    return write(folder / "UserBehavior.csv", "1,100,7,pv,1511544070\n1,100,7,pv,1511544080\n1,100,7,buy,1511544090\n"
                                              "2,101,8,cart,1511600000\n2,100,7,fav,1511700000\n")


def lastfm(folder: Path) -> Path:
    write(folder / "user_artists.dat", "userID\tartistID\tweight\n2\t51\t13883\n2\t52\t11690\n3\t51\t10\n")
    write(folder / "artists.dat", 'id\tname\turl\tpictureURL\n51\tDuran "Duran"\thttp://a\thttp://p\n'
                                  "52\tMorcheeba\thttp://b\thttp://q\n")
    write(folder / "tags.dat", "tagID\ttagValue\n1\tmetal\n2\tchillout\n", encoding="latin-1")
    write(folder / "user_taggedartists.dat", "userID\tartistID\ttagID\tday\tmonth\tyear\n2\t52\t2\t1\t4\t2009\n"
                                             "3\t51\t1\t1\t4\t2009\n")
    return folder


def msd(folder: Path) -> Path:
    write(folder / "train_triplets.txt", "b80344d0\tSOAKIMP12A8C130995\t1\nb80344d0\tSOBBMDR12A8C13253B\t2\n"
                                         "85c1f87f\tSOAKIMP12A8C130995\t5\n")
    write(folder / "song_data.csv", "song_id,title,release,artist_name,year\n"
                                    "SOAKIMP12A8C130995,The Cove,Thicker Than Water,Jack Johnson,0\n"
                                    "SOBBMDR12A8C13253B,Entre Dos Aguas,Flamenco,Paco De Lucia,1976\n")
    write(folder / "genres.tsv", "# song_id\tgenre\nSOBBMDR12A8C13253B\tLatin\n")
    return folder


def generic(folder: Path) -> Path:
    write(folder / "interactions.csv", "user_id,item_id,rating,behavior,timestamp\nu1,i1,5,rating,10\n"
                                       "u1,i2,,click,11\nu2,i1,3,rating,12\n")
    write(folder / "triples.csv", "head,relation,tail,tail_kind\ni1,genre,Jazz,\ni2,HAS_MOOD,calm,Mood\n"
                                  "i3,artist,Miles,\n")
    write(folder / "items.csv", "item_id,title\ni1,So What\ni2,Blue in Green\n")
    return folder
