import sys, numpy as np, keras, keras_uvac
from sklearn.cluster import KMeans
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import cross_val_score
from sklearn.metrics import normalized_mutual_info_score as nmi
from keras_uvac import metrics
d=np.load("/tmp/fsdd_feats.npz"); S,M,y,spk=d["S"],d["M"],d["y"],d["spk"]
m=keras.models.load_model(sys.argv[1])
z=m.latent_mean({"spectrogram":S,"activity_mask":M})
zs=(z-z.mean(0))/z.std(0)
print("probe digit", cross_val_score(LogisticRegression(max_iter=2000), zs, y, cv=3).mean())
print("probe speaker", cross_val_score(LogisticRegression(max_iter=2000), zs, spk, cv=3).mean())
k=KMeans(10,n_init=5,random_state=0).fit_predict(zs)
print("kmeans acc", metrics.unsupervised_accuracy(y,k), "nmi digit", nmi(y,k), "nmi speaker", nmi(spk,k))
zn=z/np.linalg.norm(z,axis=1,keepdims=True)
k=KMeans(10,n_init=5,random_state=0).fit_predict(zn)
print("kmeans cosine acc", metrics.unsupervised_accuracy(y,k), "nmi speaker", nmi(spk,k))
c,_=m.predict_clusters({"spectrogram":S,"activity_mask":M})
print("gmm acc", metrics.unsupervised_accuracy(y,c), "nmi speaker", nmi(spk,c), np.bincount(c,minlength=10))
